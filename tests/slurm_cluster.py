"""A Slurm cluster of one node on this machine, for the tests (Debian's slurm-wlm 22.05 and munge).

``OneNodeCluster(folder).start()`` configures the cluster in ``folder`` (its own ``slurm.conf`` on
free ports, the state and the logs there: ``SLURM_CONF`` points the commands at it), starts
``munged`` as the ``munge`` user when no munge daemon answers, then ``slurmctld`` and ``slurmd`` as
root, and waits until ``sinfo`` shows the node idle. ``stop()`` stops what it started, by the
process ids it recorded, and nothing else. ``unavailable()`` says why a test must be skipped:
not root, or the packages missing (``make cluster-setup`` installs them, as ``make test`` does
when it runs as root).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

CGROUP = "CgroupPlugin=cgroup/v1\nCgroupAutomount=no\n"  # 22.05 has no "disabled"
CONF = """ClusterName=course-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OneNodeCluster:
    def __init__(self, folder: Path):
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.started: list[tuple[str, int]] = []  # (what, pid): stopped at the end, in reverse

    @staticmethod
    def unavailable() -> str | None:
        if os.geteuid() != 0:
            return "a one-node Slurm cluster needs root (slurmd runs jobs as their user)"
        missing = [c for c in ("slurmctld", "slurmd", "sbatch", "munged") if not shutil.which(c)]
        if missing:
            return f"Slurm's packages are not installed ({', '.join(missing)}): make cluster-setup"
        return None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *cmd: str, check: bool = True) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def _munge(self) -> None:
        probe = subprocess.run("munge -n | unmunge", shell=True, capture_output=True, check=False)
        if probe.returncode == 0:
            return  # a munge daemon answers already: use it, leave it running
        run = Path("/run/munge")
        run.mkdir(exist_ok=True)
        shutil.chown(run, "munge", "munge")
        for folder in ("/var/log/munge", "/var/lib/munge"):
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", "munged", "--force"], check=True)
        pid = int((run / "munged.pid").read_text())
        self.started.append(("munged", pid))

    def start(self) -> OneNodeCluster:
        (self.folder / "state").mkdir(parents=True, exist_ok=True)
        (self.folder / "spool").mkdir(parents=True, exist_ok=True)
        host = socket.gethostname().split(".")[0]
        memory = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**2 * 0.9)
        self.conf.write_text(
            CONF.format(
                host=host,
                folder=self.folder,
                ctld_port=_free_port(),
                d_port=_free_port(),
                cpus=os.cpu_count() or 1,
                memory=memory,
            )
        )
        (self.folder / "cgroup.conf").write_text(CGROUP)
        self._munge()
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([f"/usr/sbin/{daemon}", "-f", str(self.conf)], env=self.env, check=True)
            pidfile = self.folder / f"{daemon}.pid"
            for _ in range(50):
                if pidfile.exists() and pidfile.read_text().strip():
                    break
                time.sleep(0.1)
            self.started.append((daemon, int(pidfile.read_text())))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "idle" in self.run("sinfo", "-h", "-o", "%T", check=False):
                return self
            time.sleep(0.5)
        raise RuntimeError("the one-node cluster did not come up: " + self.log())

    def log(self) -> str:
        return "".join(
            (self.folder / f"{d}.log").read_text()[-2000:]
            for d in ("slurmctld", "slurmd")
            if (self.folder / f"{d}.log").exists()
        )

    def jobs(self, *ids: str) -> list[str]:
        """The jobs (or array tasks) among ``ids`` still pending or running."""
        out = self.run("squeue", "-h", "-o", "%i %T", "-j", ",".join(ids), check=False)
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def wait(self, *ids: str, seconds: float = 1500) -> None:
        deadline = time.monotonic() + seconds
        while self.jobs(*ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs {ids} still queued after {seconds:.0f} s")
            time.sleep(2)

    def stop(self) -> None:
        subprocess.run(["scancel", "--user=root"], env=self.env, capture_output=True, check=False)
        for _, pid in reversed(self.started):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        self.started = []
