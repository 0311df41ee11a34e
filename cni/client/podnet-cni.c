/*
 * podnet-cni: the thin CNI client. Installed as podnet-bridge, podnet-host-local, podnet-loopback and
 * podnet-portmap (symlinks); the plugin is the name it was called by.
 *
 * It forwards the invocation (CNI_* environment + stdin) over a unix socket to the resident podnet
 * CNI service and relays the answer (stdout + exit code), so a call costs a connect instead of a
 * Node.js start-up. When no service answers, it execs the self-contained Node entry
 * (../dist/podnet-cni.mjs beside this binary), which runs the same plugin code in-process.
 *
 * Environment: PODNET_CNI_SOCKET (default /run/podnet/cni.sock; "off" skips the service),
 * PODNET_NODE (node binary for the fallback; default: the one found at build time, then PATH).
 * Wire protocol: see cni/service.ts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PODNET_NODE_DEFAULT
#define PODNET_NODE_DEFAULT "node"
#endif
#define DEFAULT_SOCKET "/run/podnet/cni.sock"

extern char **environ;

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static int write_field(int fd, const char *s) { return write_all(fd, s, strlen(s) + 1); }

/* Prints a CNI error object and exits 1 (used only when the service fails mid-call). */
static void fail(int code, const char *msg) {
  printf("{\"cniVersion\":\"1.1.0\",\"code\":%d,\"msg\":\"%s\"}", code, msg);
  fflush(stdout);
  exit(1);
}

static void exec_fallback(const char *plugin) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) fail(5, "podnet-cni: cannot resolve /proc/self/exe");
  self[n] = 0;
  char bundle[PATH_MAX];
  snprintf(bundle, sizeof bundle, "%s/../dist/podnet-cni.mjs", dirname(self));
  const char *node = getenv("PODNET_NODE");
  if (!node || !*node) node = PODNET_NODE_DEFAULT;
  char *argv[] = {(char *)node, bundle, (char *)plugin, NULL};
  if (strchr(node, '/') && access(node, X_OK) == 0) execv(node, argv);
  argv[0] = "node";
  execvp("node", argv);
  fail(5, "podnet-cni: no podnet CNI service and cannot exec node for the self-contained mode");
}

int main(int argc, char **argv) {
  (void)argc;
  char namebuf[PATH_MAX];
  snprintf(namebuf, sizeof namebuf, "%s", argv[0]);
  const char *plugin = basename(namebuf);

  const char *path = getenv("PODNET_CNI_SOCKET");
  if (!path || !*path) path = DEFAULT_SOCKET;
  if (strcmp(path, "off") == 0 || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) exec_fallback(plugin);

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) exec_fallback(plugin);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    exec_fallback(plugin);
  }

  /* Header: magic, plugin, pid, CNI_* variables, empty field. */
  char buf[65536];
  int bad = write_field(fd, "podnet-cni/1");
  snprintf(buf, sizeof buf, "plugin=%s", plugin);
  bad |= write_field(fd, buf);
  snprintf(buf, sizeof buf, "pid=%d", (int)getpid());
  bad |= write_field(fd, buf);
  for (char **e = environ; *e; e++)
    if (strncmp(*e, "CNI_", 4) == 0) bad |= write_field(fd, *e);
  bad |= write_all(fd, "", 1);
  /* Body: stdin as is. */
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bad |= write_all(fd, buf, (size_t)n);
  }
  if (bad) fail(11, "podnet-cni: the podnet CNI service closed the connection; try again later");
  shutdown(fd, SHUT_WR);

  /* Answer: "<code>\n" then stdout. */
  int code = -1;
  char head[16];
  size_t hl = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size_t off = 0;
    while (code < 0 && off < (size_t)n) {
      char c = buf[off++];
      if (c == '\n') {
        head[hl] = 0;
        code = atoi(head);
      } else if (hl < sizeof head - 1) {
        head[hl++] = c;
      }
    }
    if (code >= 0 && off < (size_t)n) write_all(1, buf + off, (size_t)n - off);
  }
  if (code < 0) fail(11, "podnet-cni: no answer from the podnet CNI service; try again later");
  return code;
}
