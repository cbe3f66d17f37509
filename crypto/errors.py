class CryptoError(Exception):
    """Any failure to decrypt, open, unwrap or parse. Deliberately says nothing more."""
