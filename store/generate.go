package store

//go:generate go tool ent generate --feature sql/lock,sql/execquery,sql/upsert --target ./ent ./schema
