"""Small real stages the engine tests run: ffprobe real files, count setups per process."""

from __future__ import annotations

import json
import subprocess
import uuid

from curation.stage import Row, Stage

# setup() calls in *this* process, per stage object (its token survives pickling);
# every engine must call setup() once per worker, never once per task
_SETUPS_IN_PROCESS: dict[str, int] = {}


class ProbeStage(Stage):
    """ffprobe a video and return one row per video stream (+ a container row).

    A file ffprobe cannot read raises (CalledProcessError), which the engine must
    turn into a TaskResult.error; a task with `"skip": True` returns no rows.
    """

    name = "probe-test"

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.setups = 0

    def setup(self) -> None:
        _SETUPS_IN_PROCESS[self.token] = _SETUPS_IN_PROCESS.get(self.token, 0) + 1
        self.setups += 1
        self.ffprobe = "ffprobe"

    def process(self, task: Row) -> list[Row]:
        in_process = _SETUPS_IN_PROCESS.get(self.token, 0)
        if self.setups != 1 or in_process != 1:
            raise RuntimeError(f"setup() ran {self.setups} time(s) on this copy, {in_process} in this process")
        if task.get("skip"):
            return []
        out = subprocess.run(
            [self.ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "-count_packets", task["path"]],
            check=True, capture_output=True, text=True,
        )
        info = json.loads(out.stdout)
        fmt = info["format"]
        rows: list[Row] = [{
            "name": task["name"],
            "kind": "container",
            "format": fmt["format_name"],
            "duration": float(fmt["duration"]),
            "size": int(fmt["size"]),
            "tags": sorted(fmt.get("tags", {})),
            "note": None,
            "pair": (1, 2.5),
        }]
        for s in info["streams"]:
            if s.get("codec_type") != "video":
                continue
            num, den = (int(x) for x in s["avg_frame_rate"].split("/"))
            rows.append({
                "name": task["name"],
                "kind": "video",
                "codec": s["codec_name"],
                "size_wh": [int(s["width"]), int(s["height"])],
                "fps": num / den if den else None,
                "packets": int(s["nb_read_packets"]),
                "pix_fmt": s.get("pix_fmt"),
            })
        return rows


class WhereStage(Stage):
    """Records where each task ran: process id, CUDA_VISIBLE_DEVICES, the Ray GPU ids and node.

    `resources` is given per test (a CPU stage, or a GPU stage on logical GPUs); a task with
    `"die": True` kills its worker process (os._exit), one with `"fail": True` raises."""

    def __init__(self, name: str, resources, batch_size: int = 1) -> None:
        self.name = name
        self.resources = resources
        self.batch_size = batch_size

    def process(self, task: Row) -> list[Row]:
        import os

        if task.get("die") and self.name == task.get("die_in", self.name):
            os._exit(3)
        if task.get("fail") and self.name == task.get("fail_in", self.name):
            raise ValueError(f"task {task['i']} fails in {self.name}")
        gpus, node = [], "local"
        try:
            import ray

            if ray.is_initialized():
                gpus = [str(g) for g in ray.get_gpu_ids()]
                node = ray.get_runtime_context().get_node_id()
        except ImportError:
            pass
        return [{**task, f"{self.name}_pid": os.getpid(), f"{self.name}_cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), f"{self.name}_ray_gpus": gpus, f"{self.name}_node": node}]


class BrokenSetupStage(Stage):
    """setup() fails the way a missing model does."""

    name = "broken-setup"

    def setup(self) -> None:
        raise FileNotFoundError("no weights in the cache")

    def process(self, task: Row) -> list[Row]:
        return [task]
