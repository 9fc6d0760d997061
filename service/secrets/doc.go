// Package secrets holds gatehouse's cryptographic primitives for secrets at
// rest: argon2id password hashing (Hasher), HMAC hashing of high-entropy
// secrets such as client secrets and refresh tokens (SecretHasher), opaque
// token generation (RandomToken), and sealing of private keys under a master
// key with AES-256-GCM (MasterKey).
//
// Nothing in this package logs, and no error it returns contains a password,
// secret, token or key.
package secrets
