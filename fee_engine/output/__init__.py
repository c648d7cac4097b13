"""Writers: every file a run leaves in ``--out``."""
