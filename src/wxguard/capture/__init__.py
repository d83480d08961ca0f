"""WeCom session-archive capture: the native SDK binding, pulling, media, directory, health."""
