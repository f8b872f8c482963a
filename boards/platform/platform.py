"""tiny's local PlatformIO platform: nothing beyond the base class (the builder does the work)."""
from platformio.public import PlatformBase


class TinyPlatform(PlatformBase):
    pass
