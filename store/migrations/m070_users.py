"""Accounts: who may use the studio and in what role; failed sign-ins, for slowing down guessing.

No password is stored: ``password_hash`` is an argon2 hash, ``token_hash`` the SHA-256 of a per-user API
token; ``session_version`` grows when the password changes or the account is removed, which ends every
session cookie signed before."""

SQL = """
CREATE SEQUENCE seq_users START 1;
CREATE TABLE users (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_users'),
    name VARCHAR NOT NULL UNIQUE,
    role VARCHAR NOT NULL,              -- admin engineer reviewer rater
    password_hash VARCHAR,
    token_hash VARCHAR,
    session_version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    last_signin TIMESTAMP
);
CREATE TABLE signin_failures (
    name VARCHAR,
    address VARCHAR,
    failed_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""
