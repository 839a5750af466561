"""The fork server of a grading worker: a process that has imported torch and the course's
modules once, and forks a fresh kernel for each student, each in namespaces of its own.

It runs inside the worker's bubblewrap sandbox (``autograder.kernel.Zygote`` starts it as a
plain script: it imports nothing of the autograder) and never runs student code itself. Per
student (a ``{"fork": NAME}`` line on stdin), a child:

1. closes every inherited file descriptor (the zygote's pipes to the worker among them) and
   leaves the zygote's working folder;
2. unshares new user, mount, network, IPC, UTS and PID namespaces (Linux, no privilege: the
   sandbox is already a user namespace), maps its own uid;
3. mounts a size- and inode-limited tmpfs of its own on every place it may write: ``/tmp``,
   the home folder, ``/dev/shm``, and a devpts of its own on ``/dev/pts``; a read-only tmpfs
   over the folder of run folders, with only its own (``runs/NAME``) bound back at its path.
   Everything else (the root, ``/dev``, the system and the venv) is the sandbox's, read-only;
4. waits until the worker has put it in the student's cgroup, then forks the namespace's
   init (PID 1): it mounts a fresh ``/proc`` (only the namespace's processes), forbids further
   user namespaces, drops every capability and sets no-new-privileges, forks the kernel
   (PID 2) and reaps orphans; the kernel takes its own session, the per-process limits and a
   clean environment, and starts ipykernel on the connection file in ``runs/NAME`` (IPC);
5. once the kernel is up (it has bound its sockets, before any student code), makes its run
   folder read-only when the worker asks (``{"seal": NAME}``): from then on the kernel cannot
   write there, nor replace a socket or its stderr file with a link (it keeps writing to the
   stderr file it was given, at most its file size limit).

Every mount the kernel inherits is locked by the kernel (Linux) in its less privileged
namespace, and the kernel has no capability in its own: it can neither unmount nor remount
anything. When the child dies (killed by the worker, or the zygote goes), the kernel and
everything it started die with it, and with them every tmpfs of theirs.
"""
import ctypes
import json
import os
import resource
import select
import signal
import socket
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
LIBC = ctypes.CDLL(None, use_errno=True)


def _ok(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _ok(LIBC.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _drop_capabilities() -> None:
    for cap in range(64):
        LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    _ok(LIBC.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")
    _ok(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _limit(which, value: int) -> None:
    if value > 0:
        resource.setrlimit(which, (value, value))


def _tmpfs(path: str, mb: int, files: int, mode: str, flags: int = MS_NOSUID | MS_NODEV) -> None:
    _mount("tmpfs", path, "tmpfs", flags, f"size={mb}m,nr_inodes={files},mode={mode}")


def _read_only(path: str, flags: int = MS_NOSUID | MS_NODEV) -> None:
    """Make the mount at ``path`` read-only in this mount namespace (``flags``: those it keeps)."""
    _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags)


def _isolate(spec: dict, name: str) -> None:
    """In the child: new namespaces, a tmpfs of its own for every place it may write, only its
    own run folder."""
    os.chdir("/")                        # the zygote's folders are not reachable through it
    uid, gid = os.getuid(), os.getgid()
    _ok(LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
                     | CLONE_NEWPID), "unshare")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    lim, runs = spec["limits"], spec["runs"]
    own = os.path.join(runs, name)
    # what the new tmpfs hide and the kernel needs (its run folder; a venv or a clone under
    # /tmp, read-only) is held by a descriptor meanwhile, then bound back at its path
    keep = [(os.open(path, os.O_PATH), path, read_only)
            for path, read_only in [(own, False)] + [(root, True) for root in spec["keep"]]]
    _tmpfs("/tmp", lim["tmp_mb"], lim["files"], "1777")
    _tmpfs(spec["home"], lim["scratch_mb"], lim["files"], "755")
    _tmpfs("/dev/shm", 64, lim["files"], "1777")
    _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=620")
    os.makedirs(runs, exist_ok=True)     # the runs folder may have been under /tmp
    _tmpfs(runs, 1, 8, "755", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for fd, path, read_only in keep:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        if read_only:
            _read_only(path)
        os.close(fd)
    _read_only(runs, MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _seal(spec: dict, name: str, gate: int, init: int) -> None:
    """Wait for the worker's word that the kernel is up, then make its run folder read-only
    and say so on ``gate``; return at once if the kernel ends first."""
    pidfd = os.pidfd_open(init)
    ready, _, _ = select.select([gate, pidfd], [], [])
    os.close(pidfd)
    if gate in ready and os.read(gate, 1) == b"s":
        _read_only(os.path.join(spec["runs"], name))
        os.write(gate, b"s")


def _confine() -> None:
    """As PID 1 of the new namespace: a fresh /proc, no further user namespaces, no capabilities."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    with open("/proc/sys/user/max_user_namespaces", "w") as f:
        f.write("0")
    _drop_capabilities()


def _init(spec: dict, name: str) -> None:
    """PID 1 of the new namespace: confined, it starts the kernel and reaps every orphan until
    the kernel exits."""
    _confine()
    kernel = os.fork()
    if kernel == 0:
        _become_kernel(spec, name)
    while True:
        pid, status = os.wait()
        if pid == kernel:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _become_kernel(spec: dict, name: str) -> None:
    """The kernel (PID 2): its own session, the per-process limits, a clean environment."""
    os.setsid()
    lim = spec["limits"]
    _limit(resource.RLIMIT_AS, lim["memory_mb"] << 20)
    _limit(resource.RLIMIT_DATA, lim["memory_mb"] << 20)     # not the worker's own
    _limit(resource.RLIMIT_CPU, lim["cpu_seconds"])
    _limit(resource.RLIMIT_FSIZE, lim["file_mb"] << 20)
    _limit(resource.RLIMIT_NOFILE, lim["open_files"])
    _limit(resource.RLIMIT_NPROC, lim["processes"])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.environ.clear()
    os.environ.update(spec["env"])
    os.chdir(spec["home"])
    connection = os.path.join(spec["runs"], name, "kernel.json")
    sys.argv = ["ipykernel_launcher", "-f", connection, "--HistoryManager.enabled=False"]
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()
    os._exit(0)


def _child(spec: dict, name: str, gate: int) -> None:
    """The forked child: isolate, wait for the worker's go, start the namespace's init, seal
    the run folder once the kernel is up."""
    try:
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.setsid()
        stderr = os.open(os.path.join(spec["runs"], name, "stderr.txt"),
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        null = os.open("/dev/null", os.O_RDWR)
        for fd, target in ((0, null), (1, null), (2, stderr)):
            os.dup2(target, fd)
        os.closerange(3, gate)
        os.closerange(gate + 1, 65536)
        _isolate(spec, name)
        if os.read(gate, 1) != b"g":       # the worker put this process in the student's cgroup
            os._exit(1)
        init = os.fork()
        if init == 0:
            os.close(gate)
            LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _init(spec, name)
        _seal(spec, name, gate, init)
        _, status = os.waitpid(init, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    except BaseException as e:  # noqa: BLE001 - say why on the run folder's stderr, then go
        os.write(2, f"grading sandbox: {type(e).__name__}: {e}\n".encode())
        os._exit(70)


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def check(spec: dict) -> None:
    """Can a kernel be isolated here? One child goes through every step but ipykernel."""
    name = "check"
    child = os.fork()
    if child == 0:
        try:
            _isolate(spec, name)
            init = os.fork()
            if init == 0:
                _confine()
                os._exit(0)
            os.close(os.pidfd_open(init))        # what sealing the run folder needs
            _read_only(os.path.join(spec["runs"], name))
            os._exit(os.waitstatus_to_exitcode(os.waitpid(init, 0)[1]) and 71)
        except BaseException as e:  # noqa: BLE001
            print(f"{type(e).__name__}: {e}", flush=True)
            os._exit(70)
    code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    sys.exit(code)


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec.get("check"):
        check(spec)
    out = sys.stdout
    for module in spec["preload"]:           # (bubblewrap set the environment: spec["env"])
        try:
            __import__(module)
        except Exception as e:  # noqa: BLE001 - a notebook may import what is not installed
            print(f"not preloaded: {module}: {type(e).__name__}", file=sys.stderr, flush=True)
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    out.flush()
    children, gates = {}, {}
    for line in sys.stdin:
        request = json.loads(line)
        reply = {"id": request.get("id")}         # replies carry their request's id
        if "fork" in request:
            name = request["fork"]
            if _threads() != 1:                   # forking a multi-threaded process is unsafe
                reply["error"] = f"the zygote has {_threads()} threads"
            else:
                ours, theirs = (sock.detach() for sock in socket.socketpair())
                pid = os.fork()
                if pid == 0:
                    os.close(ours)
                    _child(spec, name, theirs)
                os.close(theirs)
                children[name], gates[name] = pid, ours
                reply["pid"] = pid
        elif "go" in request:
            try:
                os.write(gates[request["go"]], b"g")
            except OSError:                  # the child is gone
                reply["error"] = "the kernel's sandbox ended before it started"
        elif "seal" in request:              # the child says when the run folder is read-only
            gate = gates.pop(request["seal"])
            try:
                os.write(gate, b"s")
                sealed = os.read(gate, 1) == b"s"
            except OSError:
                sealed = False
            if not sealed:
                reply["error"] = "the kernel ended before its run folder was made read-only"
            os.close(gate)
        elif "poll" in request:
            pid, reply["code"] = children.get(request["poll"]), 0
            if pid is not None:
                done, status = os.waitpid(pid, os.WNOHANG)
                reply["code"] = os.waitstatus_to_exitcode(status) if done else None
                if done:
                    children.pop(request["poll"])
        elif "kill" in request:
            pid, gate = children.pop(request["kill"], None), gates.pop(request["kill"], None)
            if gate is not None:
                os.close(gate)
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except OSError:
                    pass
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
