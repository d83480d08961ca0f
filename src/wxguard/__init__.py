"""wxguard: compliance archive and data-loss-prevention monitor for WeChat and WeCom."""

__version__ = "0.1.0"
