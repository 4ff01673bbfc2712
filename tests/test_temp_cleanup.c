/* An interrupted write leaves no stray temporary (src/io/temp_file.c): a
 * child process writing path through eg_write_atomic is stopped by SIGTERM,
 * SIGINT or SIGHUP while its temporary file is open, and afterwards neither
 * the temporary nor a target exists, the old target (when there was one) is
 * untouched, and the child died of that signal. The temporary is made a
 * FIFO beforehand, so the child's open of it blocks until the signal; the
 * parent waits until the kernel says the child sits in that open. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"

/* Whether pid is blocked opening a FIFO with no reader (Linux names that
 * wait "wait_for_partner" in /proc/PID/wchan). */
static int blocked_in_fifo_open(pid_t pid)
{
    char path[64], what[64] = "";
    snprintf(path, sizeof path, "/proc/%ld/wchan", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(what, 1, sizeof what - 1, f);
    fclose(f);
    what[n] = 0;
    return strstr(what, "wait_for_partner") != NULL;
}

static void interrupted_write(int sig, int old_target)
{
    char dir[] = "/tmp/eg_temp_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    char target[128], tmp[192];
    snprintf(target, sizeof target, "%s/model.edg", dir);
    if (old_target) {
        FILE *f = fopen(target, "w");
        fputs("old", f);
        fclose(f);
    }
    int go[2];
    if (pipe(go)) {
        CHECK(0, "pipe failed");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1) _exit(3);  /* the FIFO is in place */
        eg_error err;
        eg_write_atomic(target, "new contents", 12, &err);
        _exit(2);  /* never reached: the open blocks until the signal */
    }
    close(go[0]);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", target, (long)pid);
    CHECK(mkfifo(tmp, 0600) == 0, "mkfifo %s", tmp);
    CHECK(write(go[1], "x", 1) == 1, "cannot start the child");
    close(go[1]);
    int seen = 0;
    for (int tries = 0; tries < 2000 && !(seen = blocked_in_fifo_open(pid)); tries++) usleep(5000);
    CHECK(seen, "signal %d: the child never blocked in the open of its temporary file", sig);
    kill(pid, seen ? sig : SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sig, "signal %d: the child ended with status %#x", sig, status);
    struct stat st;
    CHECK(stat(tmp, &st) != 0, "signal %d: the temporary %s was left behind", sig, tmp);
    if (old_target) {
        char buf[16] = "";
        FILE *f = fopen(target, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        buf[n] = 0;
        CHECK(!strcmp(buf, "old"), "signal %d: the old target reads '%s'", sig, buf);
    } else {
        CHECK(stat(target, &st) != 0, "signal %d: a target appeared", sig);
    }
    remove(tmp), remove(target), rmdir(dir);
}

int main(void)
{
    interrupted_write(SIGTERM, 1);
    interrupted_write(SIGINT, 0);
    interrupted_write(SIGHUP, 1);
    return check_report("temp_cleanup");
}
