"""The realtime contract moved to spaces_project/protocol/ (the bottom layer, which every app may
import). This name stays until rooms' own modules import it from there."""

from spaces_project.protocol import *  # noqa: F403
from spaces_project.protocol import __all__  # noqa: F401
