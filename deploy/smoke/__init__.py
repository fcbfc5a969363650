"""Production smoke test: README's "Production" steps on this machine, then one visit through nginx.

    python -m deploy.smoke --database-url postgres://postgres@127.0.0.1:5432/postgres

It follows README's steps with deploy/'s own files: an environment file made from
deploy/spaces.env.example (only site-specific values changed), `deploy/render.py` for the nginx site
and the systemd units, `migrate` and `collectstatic`, then every unit's ExecStart (two web processes
on unix sockets, two mixers, a Celery worker, Celery beat) and nginx with the rendered site, on free
ports of 127.0.0.1 with a throwaway certificate. It makes its own PostgreSQL database (the named
one with `_smoke` appended, dropped first) and, unless --redis-url is given, its own redis-server.

Then, through nginx only, as people would: HTTP redirects to HTTPS, /healthz answers, a host signs
up (confirming the email), signs in, opens a recorded room; the host's socket and a listener's join
it; the host speaks a 440 Hz tone that the listener hears; the host ends the room; the replay
becomes ready, and a Range request for it is answered by nginx through X-Accel-Redirect, while the
recordings directory is not reachable directly. A second person follows the host and buys a ticket
for a scheduled room (through a local stand-in for Stripe's API); the host publishes the replay to
their podcast and downloads a data export, which nginx streams after the permission check. Every file
under MEDIA_ROOT (every subdirectory the code writes, found from the code) is refused at /media/ to a
visitor and to that other person, avatars aside; and every absolute URL in the pages, the feed, the
calendar, the emails and the Stripe request names SITE_URL. Everything it started is stopped at the
end, and the last line printed is a JSON object with the timings.
"""
