/* Simulated HLS listeners for bench/hls_fanout.py: one TLS connection each, one thread, epoll.
 *
 * Each listener joins at its moment of the ramp and plays by the page's rules
 * (spaces_project/protocol/hls_player.py; static/js/hls-player.js is the page's copy, this is the
 * simulator's, and tests/browser/test_hls_rules_in_step.py runs both on the same loads): at its first
 * load it fetches the newest segments that cover the hold (start_from), starts "playing" once it holds
 * that much (start_position), fetches every segment in order, and loads the playlist again one segment
 * after the moment the last load that found a new segment was due, or a retry after a miss
 * (next_load). For every segment it records when the whole response had arrived, and for every
 * listener when and where it started playing; bench/hls_fanout.py turns those into stalls and
 * latencies at the ear. Python cannot drive 10,000 such players on two cores without being the
 * bottleneck; this costs a few per cent of a core.
 *
 *   hls_listeners HOST PORT PLAYLIST_PATH LISTENERS RAMP_S DURATION_S OUT_FILE START_MARGIN_MS \
 *                 RETRY_FIRST_MS RETRY_MAX_MS
 *   hls_listeners --rules START_MARGIN_MS RETRY_FIRST_MS RETRY_MAX_MS   (the rules alone, on stdin)
 *
 * OUT_FILE gets one line per fetched segment: "listener segment arrival_ms fetch_ms", arrival in ms of
 * the Unix epoch (CLOCK_REALTIME, the clock the mixer stamps segments with); OUT_FILE.starts one line
 * per listener that started playing: "listener started_ms segment position_ms playlist_loads", where
 * position_ms is where play-out started, in ms from the start of that segment (negative: in the one
 * before). stdout gets a summary line of JSON. Built by bench/hls_fanout.py with:
 * cc -O2 -o hls_listeners hls_listeners.c -lssl -lcrypto -lm
 */
#define _GNU_SOURCE
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 8192
#define MAX_RECORDS 256

enum state { WAITING, CONNECTING, HANDSHAKE, SENDING, RECEIVING, IDLE, DEAD };

struct record { int segment; double arrival_ms; float fetch_ms; };

struct listener {
    int id, fd;
    unsigned watching;       /* the epoll events registered for fd (0: not registered) */
    enum state state;
    SSL *ssl;
    double due_ms;           /* when to start the next action (join, or reload) */
    double load_due_ms;      /* when the current playlist load was due: the listener's phase */
    double sent_ms;          /* when the current request went out */
    int want_playlist;       /* the current request is the playlist (else a segment) */
    long next;               /* the next segment to fetch, -1 before the first playlist */
    long newest;             /* the newest segment the last playlist listed */
    long first_listed;       /* the first segment the last playlist listed */
    int moved;               /* the last load found a newer segment than the one before */
    double segment_ms;       /* the newest segment's duration (EXTINF) */
    int misses;              /* loads in a row that found nothing new */
    double held_ms;          /* audio fetched since it started */
    int started;             /* play-out started */
    double started_ms;       /* when */
    long start_segment;      /* the segment whose end play-out started behind */
    double start_position_ms;
    long loads;              /* playlist requests */
    char req[256]; int req_len, req_off;
    char buf[BUF]; int len;  /* headers, and the body while it is a playlist */
    long body_left; int header_done, status;
    struct record *records; int nrecords;
};

static const char *host, *playlist_path;
static double start_margin_ms = 600, retry_first_ms = 100, retry_max_ms = 500;

/* -- the rules: static/js/hls-player.js's holdMs, startFrom, startPosition and nextLoad ---------- */

static double hold_ms(double segment_ms) { return segment_ms + start_margin_ms; }

static long start_from(long first, long last, double segment_ms) {
    long from = last - (long)ceil(hold_ms(segment_ms) / segment_ms) + 1;
    return from < first ? first : from;
}

/* How far behind the end of what is held play-out starts, or -1 while less than that is held. */
static double start_position(double held_ms, double segment_ms) {
    double hold = hold_ms(segment_ms);
    return held_ms >= hold ? hold : -1;
}

static double next_load(double due, double now, int moved, double segment_ms, int *misses) {
    if (moved) {
        double next = due + segment_ms;
        while (next < now) next += segment_ms;
        *misses = 0;
        return next;
    }
    int doubling = *misses < 10 ? *misses : 10;
    double wait = retry_first_ms * (double)(1 << doubling);
    if (wait > retry_max_ms) wait = retry_max_ms;
    *misses += 1;
    return due + wait > now ? due + wait : now;
}
static char base_path[512];
static SSL_CTX *ctx;
static int epfd;
static struct sockaddr_in address;
static long requests, playlist_requests, errors, bad_status, reconnects;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

static void watch(struct listener *l, unsigned events) {
    if (l->watching == events) return; /* a system call saved per request */
    struct epoll_event ev = {.events = events, .data.ptr = l};
    if (epoll_ctl(epfd, l->watching ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, l->fd, &ev) < 0) return;
    l->watching = events;
}

static void drop(struct listener *l, double now) {
    if (l->ssl) { SSL_free(l->ssl); l->ssl = NULL; }
    if (l->fd >= 0) { close(l->fd); l->fd = -1; }
    l->watching = 0;
    errors++;
    /* Reconnect a moment later, as a player would. */
    l->state = WAITING;
    l->due_ms = now + 500;
    reconnects++;
}

static void start_connect(struct listener *l) {
    l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    l->state = CONNECTING;
    if (connect(l->fd, (struct sockaddr *)&address, sizeof address) < 0 && errno != EINPROGRESS) {
        drop(l, now_ms());
        return;
    }
    watch(l, EPOLLOUT);
}

static void send_some(struct listener *l, double now) {
    int n = SSL_write(l->ssl, l->req + l->req_off, l->req_len - l->req_off);
    if (n <= 0) {
        int e = SSL_get_error(l->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE) watch(l, EPOLLIN | EPOLLOUT);
        else if (e != SSL_ERROR_WANT_READ) drop(l, now);
        return;
    }
    l->req_off += n;
    if (l->req_off < l->req_len) {
        watch(l, EPOLLIN | EPOLLOUT);
        return;
    }
    l->state = RECEIVING;
    watch(l, EPOLLIN);
}

static void start_request(struct listener *l, double now) {
    if (l->want_playlist) {
        l->req_len = snprintf(l->req, sizeof l->req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", playlist_path, host);
        playlist_requests++;
        l->loads++;
    } else {
        l->req_len = snprintf(l->req, sizeof l->req, "GET %sseg-%ld.m4s HTTP/1.1\r\nHost: %s\r\n\r\n", base_path,
                              l->next, host);
    }
    requests++;
    l->req_off = 0;
    l->len = 0;
    l->header_done = 0;
    l->sent_ms = now;
    l->state = SENDING;
    send_some(l, now); /* a request fits the socket's buffer: no wait for EPOLLOUT */
}

/* After a playlist: what it lists. Returns 0 when it could not be read; a playlist with no segment
   yet (nginx's answer before the mixer's first) is read, and finds nothing new. */
static int read_playlist(struct listener *l, const char *body) {
    const char *p = strstr(body, "#EXT-X-MEDIA-SEQUENCE:");
    const char *t = strstr(body, "#EXT-X-TARGETDURATION:");
    if (!p || !t) return 0;
    long first = atol(p + 22);
    long count = 0;
    for (const char *s = body; (s = strstr(s, "\nseg-")); s++) count++;
    l->moved = 0;
    if (count == 0) return 1;
    long newest = first + count - 1;
    l->moved = l->newest < 0 || newest > l->newest;
    const char *inf = NULL;
    for (const char *s = body; (s = strstr(s, "#EXTINF:")); s++) inf = s + 8;
    l->segment_ms = inf ? atof(inf) * 1000.0 : atof(t + 22) * 1000.0;
    l->first_listed = first;
    l->newest = newest;
    if (l->next < 0 || l->next < first || l->next > newest + 1) {
        /* Starting (or out of the window): the start rule. */
        l->next = start_from(first, newest, l->segment_ms);
        l->held_ms = 0;
        l->started = 0;
    }
    return 1;
}

static void reload_later(struct listener *l, double now, double at) {
    l->want_playlist = 1;
    l->state = IDLE;
    l->due_ms = at > now ? at : now;
    watch(l, EPOLLIN);
}

static void after_response(struct listener *l, double now) {
    if (l->want_playlist) {
        l->buf[l->len < BUF ? l->len : BUF - 1] = 0;
        char *body = strstr(l->buf, "\r\n\r\n");
        if (l->status != 200 || !body || !read_playlist(l, body + 2)) {
            bad_status++;
            l->moved = 0;
        }
    } else if (l->status != 200) {
        bad_status++;
        l->moved = 0; /* as the page: the load ends there, and the segment is tried at the next */
    } else {
        if (l->nrecords < MAX_RECORDS)
            l->records[l->nrecords++] = (struct record){(int)l->next, now, (float)(now - l->sent_ms)};
        l->held_ms += l->segment_ms;
        if (!l->started) {
            double behind = start_position(l->held_ms, l->segment_ms);
            if (behind >= 0) {
                l->started = 1;
                l->started_ms = now;
                l->start_segment = l->next;
                l->start_position_ms = l->segment_ms - behind;
            }
        }
        l->next++;
    }
    if (l->next >= 0 && l->next <= l->newest && l->status == 200) {
        /* The next segment the playlist listed, in order. */
        l->want_playlist = 0;
        start_request(l, now);
        return;
    }
    double due = next_load(l->load_due_ms, now, l->moved, l->segment_ms > 0 ? l->segment_ms : 1000, &l->misses);
    reload_later(l, now, due);
}

static int parse_headers(struct listener *l) {
    char *end = memmem(l->buf, l->len, "\r\n\r\n", 4);
    if (!end) return 0;
    l->status = atoi(l->buf + 9);
    long length = 0;
    char *cl = strcasestr(l->buf, "\r\nContent-Length:");
    if (cl && cl < end) length = atol(cl + 17);
    int header_len = (int)(end + 4 - l->buf);
    l->body_left = length - (l->len - header_len);
    l->header_done = 1;
    return 1;
}

static void on_readable(struct listener *l, double now) {
    char scratch[16384];
    for (;;) {
        char *into = scratch;
        int room = sizeof scratch;
        if (!l->header_done || l->want_playlist) {
            into = l->buf + l->len;
            room = BUF - 1 - l->len;
            if (room <= 0) { into = scratch; room = sizeof scratch; }
        }
        int n = SSL_read(l->ssl, into, room);
        if (n <= 0) {
            int e = SSL_get_error(l->ssl, n);
            if (e == SSL_ERROR_WANT_READ) return;
            if (e == SSL_ERROR_WANT_WRITE) { watch(l, EPOLLIN | EPOLLOUT); return; }
            drop(l, now);
            return;
        }
        if (l->state != RECEIVING) continue; /* nothing expected: ignore */
        if (into != scratch) l->len += n;
        if (!l->header_done) {
            if (!parse_headers(l)) continue;
        } else {
            l->body_left -= n;
        }
        if (l->body_left <= 0) {
            after_response(l, now);
            return; /* level-triggered: anything more wakes us again; saves a read that would say EAGAIN */
        }
    }
}

static void on_event(struct listener *l, unsigned events, double now) {
    if (l->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) { drop(l, now); return; }
        l->ssl = SSL_new(ctx);
        SSL_set_fd(l->ssl, l->fd);
        SSL_set_tlsext_host_name(l->ssl, host);
        SSL_set_connect_state(l->ssl);
        l->state = HANDSHAKE;
    }
    if (l->state == HANDSHAKE) {
        int r = SSL_do_handshake(l->ssl);
        if (r == 1) {
            l->want_playlist = 1;
            l->load_due_ms = now; /* the first load: the listener's phase starts here */
            start_request(l, now);
        } else {
            int e = SSL_get_error(l->ssl, r);
            if (e == SSL_ERROR_WANT_READ) watch(l, EPOLLIN);
            else if (e == SSL_ERROR_WANT_WRITE) watch(l, EPOLLOUT);
            else drop(l, now);
            return;
        }
    }
    if (l->state == SENDING) {
        send_some(l, now);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(l, now);
}

/* The rules alone, for tests/browser/test_hls_rules_in_step.py: one command a line on stdin, one
   answer a line on stdout, as the test's node driver does with static/js/hls-player.js.
     join DUE                           -> (nothing: the first load was due then)
     load NOW MOVED SEGMENT_MS          -> the next load's due time and the misses in a row
     from FIRST LAST SEGMENT_MS         -> the first segment to fetch when starting
     start HELD_MS SEGMENT_MS           -> ms behind the end where play-out starts, or -1 */
static int rules(void) {
    char line[256];
    double due = 0;
    int misses = 0;
    while (fgets(line, sizeof line, stdin)) {
        double a, b, c;
        long first, last;
        int moved;
        if (sscanf(line, "join %lf", &a) == 1) {
            due = a;
            misses = 0;
        } else if (sscanf(line, "load %lf %d %lf", &a, &moved, &b) == 3) {
            due = next_load(due, a, moved, b, &misses);
            printf("%.3f %d\n", due, misses);
        } else if (sscanf(line, "from %ld %ld %lf", &first, &last, &c) == 3) {
            printf("%ld\n", start_from(first, last, c));
        } else if (sscanf(line, "start %lf %lf", &a, &b) == 2) {
            printf("%.3f\n", start_position(a, b));
        } else {
            fprintf(stderr, "unknown command: %s", line);
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--rules") == 0) {
        start_margin_ms = atof(argv[2]);
        retry_first_ms = atof(argv[3]);
        retry_max_ms = atof(argv[4]);
        return rules();
    }
    if (argc != 11) {
        fprintf(stderr,
                "usage: %s HOST PORT PLAYLIST_PATH LISTENERS RAMP_S DURATION_S OUT_FILE START_MARGIN_MS RETRY_FIRST_MS "
                "RETRY_MAX_MS\n       %s --rules START_MARGIN_MS RETRY_FIRST_MS RETRY_MAX_MS\n",
                argv[0], argv[0]);
        return 2;
    }
    start_margin_ms = atof(argv[8]);
    retry_first_ms = atof(argv[9]);
    retry_max_ms = atof(argv[10]);
    host = argv[1];
    int port = atoi(argv[2]);
    playlist_path = argv[3];
    int count = atoi(argv[4]);
    double ramp_ms = atof(argv[5]) * 1000, duration_ms = atof(argv[6]) * 1000;
    snprintf(base_path, sizeof base_path, "%s", playlist_path);
    char *slash = strrchr(base_path, '/');
    if (slash) slash[1] = 0;

    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);

    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* the bench's own throwaway certificate */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    epfd = epoll_create1(0);

    struct listener *ls = calloc(count, sizeof *ls);
    double start = now_ms();
    for (int i = 0; i < count; i++) {
        ls[i].id = i;
        ls[i].fd = -1;
        ls[i].state = WAITING;
        ls[i].next = -1;
        ls[i].newest = -1;
        ls[i].due_ms = start + ramp_ms * i / count;
        ls[i].records = calloc(MAX_RECORDS, sizeof(struct record));
    }
    struct epoll_event events[1024];
    double end = start + duration_ms;
    int cursor = 0;
    double scanned_at = 0;
    for (;;) {
        double now = now_ms();
        if (now >= end) break;
        /* Start what is due (joins, and reloads of the playlist), looking at most every 5 ms: a scan
           of every listener per wake-up would cost more than the requests. */
        for (int scanned = now - scanned_at >= 5 ? 0 : count; scanned < count;
             scanned++, cursor = (cursor + 1) % count) {
            struct listener *l = &ls[cursor];
            if (l->due_ms > now) continue;
            if (l->state == WAITING) { l->due_ms = 1e300; start_connect(l); }
            else if (l->state == IDLE) {
                l->load_due_ms = l->due_ms; /* the phase: when it was due, not when the scan got to it */
                l->due_ms = 1e300;
                l->want_playlist = 1;
                start_request(l, now);
            }
        }
        if (now - scanned_at >= 5) scanned_at = now;
        int n = epoll_wait(epfd, events, 1024, 5);
        now = now_ms();
        for (int i = 0; i < n; i++) on_event(events[i].data.ptr, events[i].events, now);
    }

    FILE *out = fopen(argv[7], "w");
    long records = 0;
    for (int i = 0; i < count; i++)
        for (int r = 0; r < ls[i].nrecords; r++, records++)
            fprintf(out, "%d %d %.1f %.2f\n", i, ls[i].records[r].segment, ls[i].records[r].arrival_ms,
                    ls[i].records[r].fetch_ms);
    fclose(out);
    char starts_path[1024];
    snprintf(starts_path, sizeof starts_path, "%s.starts", argv[7]);
    FILE *starts = fopen(starts_path, "w");
    for (int i = 0; i < count; i++)
        if (ls[i].started)
            fprintf(starts, "%d %.1f %ld %.1f %ld\n", i, ls[i].started_ms, ls[i].start_segment, ls[i].start_position_ms,
                    ls[i].loads);
    fclose(starts);
    int connected = 0, states[DEAD + 1] = {0};
    for (int i = 0; i < count; i++) {
        connected += ls[i].state != WAITING && ls[i].state != CONNECTING;
        states[ls[i].state]++;
    }
    fprintf(stderr, "states: waiting %d connecting %d handshake %d sending %d receiving %d idle %d\n", states[0],
            states[1], states[2], states[3], states[4], states[5]);
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu_s = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
                   usage.ru_stime.tv_usec / 1e6;
    printf("{\"listeners\": %d, \"connected\": %d, \"requests\": %ld, \"playlist_requests\": %ld, "
           "\"segments\": %ld, \"errors\": %ld, \"bad_status\": %ld, \"reconnects\": %ld, \"cpu_s\": %.2f, "
           "\"wall_s\": %.2f}\n",
           count, connected, requests, playlist_requests, records, errors, bad_status, reconnects, cpu_s,
           (now_ms() - start) / 1000);
    return 0;
}
