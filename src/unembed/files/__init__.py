"""What the package writes and reads on disk: atomic writes, the type header every saved folder
carries, and the per-machine cache folder."""
