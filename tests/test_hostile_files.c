/* Every reader (IDX data, model specs, recipes, model files, checkpoints,
 * ONNX) given paths that are not regular files, or cannot be opened: a FIFO
 * with no writer (an ordinary open would wait for one forever), a symlink to
 * /dev/zero (an endless stream), a folder, a socket, a symlink loop, a
 * dangling symlink, a path through a file, a missing folder, a missing file
 * and, as an unprivileged user, a file and a folder it may not read. Each
 * read fails at once with EG_ERR_IO and a message naming the path and what
 * is wrong with it. Data folders (eg_dataset_load_dir) likewise: missing,
 * a file, a symlink loop, under a file, unreadable; only missing files get
 * the hint to fetch MNIST. An alarm ends the test if a reader blocks. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "util.h"

#define MEAN 0.1307f
#define STD 0.3081f

static char dir[] = "/tmp/eg_hostile.XXXXXX";
static const char *labels;  /* a good label file, for the image reader */

static eg_status read_images(const char *path, eg_error *err)
{
    eg_dataset ds;
    eg_status st = eg_dataset_load_idx(&ds, path, labels, MEAN, STD, err);
    if (!st) eg_dataset_free(&ds);
    return st;
}

/* eg_model_open: a path without .edg or .onnx is read as a spec, after a
 * look at its first bytes for the model-file magic */
static eg_status read_spec(const char *path, eg_error *err)
{
    eg_graph g;
    eg_status st = eg_model_open(&g, path, NULL, err);
    if (!st) eg_graph_free(&g);
    return st;
}

static eg_status read_model_file(const char *path, eg_error *err)
{
    eg_graph g;
    eg_status st = eg_model_load(&g, path, err);
    if (!st) eg_graph_free(&g);
    return st;
}

static eg_status read_checkpoint(const char *path, eg_error *err)
{
    eg_graph g;
    eg_optim o;
    eg_train_position p;
    eg_status st = eg_checkpoint_load(&g, &o, &p, path, err);
    if (!st) eg_graph_free(&g), eg_optim_free(&o);
    return st;
}

static eg_status read_onnx(const char *path, eg_error *err)
{
    eg_graph g;
    eg_status st = eg_onnx_import(&g, path, err);
    if (!st) eg_graph_free(&g);
    return st;
}

static eg_status read_recipe(const char *path, eg_error *err)
{
    eg_recipe r;
    return eg_recipe_load(&r, path, err);
}

static const struct {
    const char *name;
    eg_status (*read)(const char *path, eg_error *err);
} readers[] = {
    {"IDX file", read_images},       {"model spec", read_spec}, {"model file", read_model_file},
    {"checkpoint", read_checkpoint}, {"ONNX file", read_onnx},  {"recipe", read_recipe},
};

/* Every reader refuses path, the message naming it and holding why. */
static void all_refuse(const char *path, const char *why)
{
    for (size_t i = 0; i < sizeof readers / sizeof *readers; i++) {
        if (readers[i].read == read_onnx && !eg_onnx_available()) continue;
        eg_error err = {0};
        eg_status st = readers[i].read(path, &err);
        CHECK(st == EG_ERR_IO, "%s reading %s: status %d, want EG_ERR_IO (%s)", readers[i].name, path, st, err.msg);
        CHECK(strstr(err.msg, path) == err.msg && strstr(err.msg, "cannot open") && strstr(err.msg, why),
              "%s reading %s: the message should name it and say '%s': %s", readers[i].name, path, why, err.msg);
    }
}

static void load_dir_fails(const char *what, const char *folder, const char *why, int hint)
{
    eg_dataset ds;
    eg_error err = {0};
    eg_status st = eg_dataset_load_dir(&ds, folder, "train", MEAN, STD, &err);
    CHECK(st == EG_ERR_IO && strstr(err.msg, folder) == err.msg && strstr(err.msg, why),
          "data folder %s: status %d, want EG_ERR_IO and '%s': %s", what, st, why, err.msg);
    CHECK(!strstr(err.msg, "fetch MNIST") == !hint, "data folder %s: the hint to fetch MNIST %s: %s", what,
          hint ? "is missing" : "is wrong here", err.msg);
    CHECK(ds.x == NULL && ds.n == 0, "data folder %s: a failed load left data behind", what);
}

static const char *at(const char *name) { return util_path(dir, name); }

/* Files an unprivileged reader may not open; as root, checked in a child
 * that becomes nobody, since root may read anything. */
static void permission_denied(void)
{
    char file[512], folder[512], inside[600];
    snprintf(file, sizeof file, "%s", at("locked"));
    snprintf(folder, sizeof folder, "%s", at("locked-folder"));
    snprintf(inside, sizeof inside, "%s/train-images-idx3-ubyte", folder);
    util_write_file(file, "x", 1);
    CHECK(mkdir(folder, 0755) == 0, "mkdir %s", folder);
    util_write_file(inside, "x", 1);
    chmod(file, 0), chmod(folder, 0);
    int as_root = geteuid() == 0;
    pid_t pid = as_root ? fork() : 0;
    if (pid == 0) {
        if (as_root && (setgid(65534) || setuid(65534))) _exit(99);
        all_refuse(file, "permission denied");
        all_refuse(inside, "permission denied");
        load_dir_fails("unreadable", folder, "cannot open the data folder: permission denied", 0);
        if (as_root) _exit(check_failures ? 1 : 0);
    } else {
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "as nobody: the checks above failed (status %#x)", status);
    }
    chmod(folder, 0755);
}

int main(void)
{
    alarm(120);  /* a reader that blocks ends the test here instead of hanging it */
    if (!mkdtemp(dir) || chmod(dir, 0755)) {
        perror(dir);
        return 1;
    }
    uint8_t lab[9] = {0, 0, 8, 1, 0, 0, 0, 1, 3};
    labels = strdup(at("labels"));
    util_write_file(labels, lab, sizeof lab);

    CHECK(mkfifo(at("fifo"), 0600) == 0, "mkfifo");
    all_refuse(at("fifo"), "it is a FIFO (named pipe), not a regular file");
    CHECK(symlink("/dev/zero", at("zero")) == 0, "symlink");
    all_refuse(at("zero"), "it is a character device, not a regular file");
    CHECK(mkdir(at("folder"), 0755) == 0, "mkdir");
    all_refuse(at("folder"), "it is a folder, not a regular file");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", at("socket"));
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0, "bind %s", sa.sun_path);
    all_refuse(at("socket"), "it is a socket, not a regular file");
    close(s);
    CHECK(symlink("loop", at("loop")) == 0, "symlink");
    all_refuse(at("loop"), "a symlink loop");
    CHECK(symlink("nothing-here", at("dangling")) == 0, "symlink");
    all_refuse(at("dangling"), "a symlink to a file that does not exist");
    char why[600];
    snprintf(why, sizeof why, "%s is not a folder", labels);
    all_refuse(at("labels/inside"), why);
    snprintf(why, sizeof why, "no such folder %s", at("nodir"));
    all_refuse(at("nodir/file"), why);
    all_refuse(at("missing"), "no such file");
    permission_denied();

    load_dir_fails("missing", at("nodir"), "cannot open the data folder: no such folder", 1);
    load_dir_fails("a file", labels, "cannot open the data folder: it is not a folder", 1);
    load_dir_fails("a symlink loop", at("loop"), "a symlink loop", 1);
    snprintf(why, sizeof why, "%s is not a folder", labels);
    load_dir_fails("under a file", at("labels/data"), why, 1);
    load_dir_fails("empty", at("folder"), "no train-images-idx3-ubyte (raw or .gz)", 1);
    CHECK(symlink("/dev/zero", at("folder/train-images-idx3-ubyte")) == 0, "symlink");
    CHECK(symlink(labels, at("folder/train-labels-idx1-ubyte")) == 0, "symlink");
    load_dir_fails("images from /dev/zero", at("folder"), "it is a character device", 0);

    util_remove_tree(dir);
    return check_report("hostile_files");
}
