from .loop import train

__all__ = ["train"]
