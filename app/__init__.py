"""eguide: real-time career guidance chat. This package holds the ASGI app and the command line."""
