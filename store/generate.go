package store

//go:generate go tool ent generate --feature sql/lock --target ./ent ./schema
