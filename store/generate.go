package store

//go:generate go tool ent generate --feature sql/lock,sql/execquery --target ./ent ./schema
