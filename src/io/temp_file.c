/* Files are written whole or not at all: into a temporary file beside the
 * target (NAME.tmp.PID), synced, then renamed over it. While a temporary
 * file exists it is held here, and SIGINT, SIGTERM or SIGHUP arriving
 * meanwhile removes it before the process ends as the signal would end it,
 * so an interrupted write leaves neither a half-written target nor a stray
 * temporary. SIGKILL cannot be caught: a kill -9 during a write leaves the
 * NAME.tmp.PID it was writing (the target is intact), and the next write to
 * NAME removes it, since its process is gone.
 *
 * While training runs (eg_stop_catch), the first SIGINT or SIGTERM only
 * sets a flag, so that the step in progress finishes and a checkpoint can
 * be written; a second one ends the process as above. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

enum { HELD = 4, PATH = 4200 };  /* a C export holds two at once */
static char held[HELD][PATH];
static volatile sig_atomic_t in_use[HELD];
static volatile sig_atomic_t catching, caught;

static void on_signal(int sig)
{
    if (catching && !caught && sig != SIGHUP) {
        caught = sig;
        return;
    }
    for (int i = 0; i < HELD; i++)
        if (in_use[i]) unlink(held[i]);  /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Installs the handler for each signal still at its default action (one a
 * caller chose to handle or ignore is left alone). */
static void install_once(void)
{
    static int done;
    if (done) return;
    done = 1;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) || old.sa_handler != SIG_DFL) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

void eg_stop_catch(int on)
{
    install_once();
    catching = on;
}

int eg_stop_signal(void) { return caught; }

void eg_stop_request(int sig)
{
    if (!caught) caught = sig;
}

void eg_temp_hold(const char *tmp)
{
    install_once();
    for (int i = 0; i < HELD; i++)
        if (!in_use[i]) {
            snprintf(held[i], PATH, "%s", tmp);
            in_use[i] = 1;  /* after the name is complete: the handler reads it */
            return;
        }
}

void eg_temp_release(const char *tmp)
{
    for (int i = 0; i < HELD; i++)
        if (in_use[i] && !strcmp(held[i], tmp)) {
            in_use[i] = 0;
            return;
        }
}

/* Removes path.tmp.PID files whose process is gone (a kill -9 during a
 * write): those of living processes may be being written. */
static void remove_stale(const char *path)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    char dir[PATH], stale[PATH + 256];
    snprintf(dir, sizeof dir, "%.*s", slash ? (slash == path ? 1 : (int)(slash - path)) : 1, slash ? path : ".");
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) || strncmp(n + bl, ".tmp.", 5) || !n[bl + 5]) continue;
        char *end;
        long pid = strtol(n + bl + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        snprintf(stale, sizeof stale, "%s/%s", dir, n);
        unlink(stale);
    }
    if (d) closedir(d);
}

eg_status eg_write_temp(const char *path, const char *tmp, const void *data, size_t len, eg_error *err)
{
    remove_stale(path);
    eg_temp_hold(tmp);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        eg_temp_release(tmp);
        return eg_fail(err, EG_ERR_IO, "%s: cannot create its temporary file %s: %s", path, tmp, strerror(e));
    }
    int bad = fwrite(data, 1, len, f) != len;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    int e = errno;
    bad |= fclose(f) != 0;
    if (bad) {
        remove(tmp);
        eg_temp_release(tmp);
        return eg_fail(err, EG_ERR_IO, "%s: cannot write: %s (nothing was replaced)", path, strerror(e));
    }
    return EG_OK;
}

eg_status eg_write_atomic(const char *path, const void *data, size_t len, eg_error *err)
{
    char tmp[PATH];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    eg_status st = eg_write_temp(path, tmp, data, len, err);
    if (st) return st;
    int bad = rename(tmp, path) != 0, e = errno;
    if (bad) remove(tmp);
    eg_temp_release(tmp);
    if (bad) return eg_fail(err, EG_ERR_IO, "%s: cannot write: %s (nothing was replaced)", path, strerror(e));
    return EG_OK;
}
