"""Stop daphne's websocket layer (autobahn) from formatting debug messages nobody logs.

autobahn builds the arguments of its debug log calls whether or not debug logging is on: a
`pformat` of the protocol's whole configuration for every connection, and terminal colours (click)
around type names for every frame sent. Measured with cProfile on a web process taking a reconnect
storm (bench/reconnect_storm.py), that formatting was over half of the process's time per connection
(about 20 ms of CPU per socket under load, against 6 to 10 ms without it). Both are cosmetic: the
colours are dropped and the configuration dump becomes empty. Nothing else reads them.
"""

import autobahn.util
import autobahn.websocket.protocol


def quiet_autobahn_debug_formatting() -> None:
    autobahn.util._HAS_CLICK = False  # hl(), hltype(), hlval(): plain text
    autobahn.websocket.protocol.pformat = _not_formatted  # only ever formats debug output


def _not_formatted(_obj: object) -> str:
    return ""
