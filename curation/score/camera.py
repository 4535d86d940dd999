"""Camera motion from the DIS flow field: a robust global similarity fit per frame pair,
and a streaming per-clip classifier.  No model weights: only the flow the score pass computes.

Per pair (`fit_global_motion`)
    The flow field (H x W x 2, pixels at the flow width, first -> second frame,
    `cv2.DISOpticalFlow.calc` as in `curation.score.flow`) is sampled on a regular
    grid (`grid_step` px; `margin` of the frame left out at every border, where DIS
    sees content entering or leaving).  When the pair's first grey frame is given,
    grid points in flat areas (local mean gradient < `texture_min` grey levels/px)
    are left out: DIS fills flat areas (sky, road, walls) by smoothing, so their
    flow is guesswork that leaks from moving objects.  (When fewer than
    max(`texture_min_points`, `texture_min_share` x points) are textured, all points
    are used.)  With coordinates centred on the frame centre (x right, y down), the
    camera model is a similarity (translation, uniform scale, rotation):

        u = tx + a * x - b * y          a = s cos(theta) - 1
        v = ty + b * x + a * y          b = s sin(theta)

    fitted by iteratively reweighted least squares with Tukey's biweight on the
    vector residual: it starts from the median translation, the residual scale is
    1.4826 x the median residual (floored at `sigma_floor_px`), the biweight
    constant is 4.685, at most `irls_iterations` steps (it stops earlier once no parameter moves
    a point by more than 0.001 px).  No random sampling (RANSAC), so
    the same flow gives the same fit on every run, bit for bit.
    Then the STATIC HYPOTHESIS (zero motion) is compared with the fit: if at least
    as many points move by <= `zero_px` as fit the model within `zero_px` + 10 % of
    its flow, the pair is taken as static (tx = ty = 0, s = 1, theta = 0).  Without
    this, a subject passing a static camera drags the fit along with the flow
    that leaks around it (seen on real footage: a car crossing an overhead parking
    shot, a signer in front of a static camera).
    Outputs: tx, ty (px per pair), scale s (> 1: content grows = zoom in), rotation
    theta (radians per pair, clockwise on screen), the inlier share (points whose
    residual is at most max(`inlier_px`, `inlier_rel` x |model flow|)), and the
    mean displacement of the model field (camera) and of the residual field
    (object motion) over the points, in px.

Per clip (`CameraMotionMeter`, O(1) memory: running sums, whatever the clip length)
    Every per-pair number becomes a FRACTION OF THE FRAME WIDTH PER SECOND
    (px / flow width x fps; pairs are adjacent frames, like `curation.score.flow`),
    so they compare with `flow_mean`.  Zoom and rotation are turned into the same
    unit through the mean distance r of the points from the centre (zoom:
    ln(s) x r, rotation: theta x r: the mean displacement they cause).

        camera_speed    mean over pairs of the mean |model flow|          (width/s)
        object_motion   mean over pairs of the mean |flow - model flow|  (width/s)
        pan_speed       mean of -tx       (> 0: camera pans right, content moves left)
        tilt_speed      mean of  ty       (> 0: camera tilts up, content moves down)
        zoom_speed      mean of ln(s) x r (> 0: zoom in)
        rotation_speed  mean of theta x r (> 0: clockwise)
        camera_inlier_share  mean inlier share of the fits
        still_pair_share     share of pairs whose own camera speed < static_speed
        shake_flip_share     share of consecutive moving pairs whose translation reverses

    Label (`camera_motion`), the first rule that matches:
      1. complex  - camera_inlier_share < `complex_inlier_share` while anything moves
                    (camera_speed + object_motion >= `static_speed`): no one camera
                    model explains the field (independent motions, a split screen,
                    a large moving subject, strong parallax).  confidence = 1 - inlier share.
      2. static   - camera_speed < `static_speed`: confidence = inlier share x
                    (1 - camera_speed / static_speed); or the camera is still in at
                    least `still_pair_share` of the pairs (a subject crossing a static
                    shot moves the fit on a few pairs only): confidence = inlier share
                    x still_pair_share.
      3. shake    - translation whose direction flips between consecutive sampled
                    pairs (flip share >= `shake_min_flips`), fast enough (mean |t| >=
                    `shake_min_speed`), with a small net displacement (|mean t| <=
                    `shake_max_net` x mean |t|), the translation being most of the
                    camera motion (mean |t| >= 0.5 x camera_speed).
                    confidence = min(1, flips / 0.5) x (1 - |mean t| / mean |t|).
      4. pan_left/pan_right/tilt_up/tilt_down/zoom_in/zoom_out/rotate - the
                    component with the largest |net speed| d1, when d1 >= `dominance`
                    x the second largest d2, its sign holds for at least
                    `min_consistency` of its motion (same-sign magnitudes / all
                    magnitudes over the pairs), and d1 >= static_speed / 2.
                    confidence = consistency x d1 / (d1 + d2) x inlier share.
      5. complex  - anything else (mixed or back-and-forth motion); confidence =
                    1 - consistency x d1 / (d1 + d2).

Thresholds are for clips normalized by ingest (16 fps) with flow at 160 px: the
static threshold 0.025 width/s is 0.25 px per pair, about twice the DIS noise on
real static footage with moving subjects (0.006-0.012 width/s measured on the
../shared/media clips); a pan slower than that takes 40 s to cross the frame.

Cost: 0.5-0.7 ms per pair on 160 x 90 flow (20 ms per 10-s clip), see benchmarks/bench_signals.py;
cv2.estimateAffinePartial2D with RANSAC is ~0.2 ms but random (needs a global RNG seed) and has no
static hypothesis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from curation.config import CameraParams

LABELS = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "rotate", "shake", "complex")

#: proposed difficulty components (fixed saturating scales, same form as curation.score.difficulty):
#: n = 1 - exp(-x / scale).  A camera pan of 15 % of the width per second gives n_camera_speed = 0.63;
#: object motion is scaled tighter because the residual is averaged over the whole frame (a subject
#: covering a fifth of the frame moving at 0.4 width/s gives 0.08 -> n = 0.63).
DIFFICULTY_SCALES: dict[str, float] = {"camera_speed": 0.15, "object_motion": 0.08}


@dataclass(frozen=True)
class GlobalMotion:
    """One frame pair's camera model, fitted on the flow grid (pixels at the flow width)."""

    tx: float  # px per pair, content moves right when > 0
    ty: float  # px per pair, content moves down when > 0
    scale: float  # > 1: content grows (zoom in)
    rotation: float  # radians per pair, clockwise on screen when > 0
    inlier_share: float  # 0..1
    camera_px: float  # mean |model flow| over the grid, px
    residual_px: float  # mean |flow - model flow| over the grid, px
    residual_p90_px: float  # 90th percentile of |flow - model flow|, px
    mean_radius_px: float  # mean distance of the grid points from the centre, px
    width: int  # flow field width, px
    height: int
    points: int  # grid points used (textured ones when a grey frame was given)
    static_hypothesis: bool  # the zero-motion model explained at least as many points as the fit, and was kept


_GRID_CACHE: dict[tuple[int, int, int, float], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def _grid(h: int, w: int, step: int, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row indices, column indices, centred x, centred y) of the sample grid (cached per shape)."""
    key = (h, w, step, margin)
    got = _GRID_CACHE.get(key)
    if got is None:
        y0, x0 = int(round(margin * h)), int(round(margin * w))
        rows = np.arange(y0 + step // 2, max(y0 + 1, h - y0), step)
        cols = np.arange(x0 + step // 2, max(x0 + 1, w - x0), step)
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        rr, cc = rr.ravel(), cc.ravel()
        xs = (cc - (w - 1) / 2.0).astype(np.float64)
        ys = (rr - (h - 1) / 2.0).astype(np.float64)
        got = (rr, cc, xs, ys)
        if len(_GRID_CACHE) > 16:
            _GRID_CACHE.clear()
        _GRID_CACHE[key] = got
    return got


def _solve(xs: np.ndarray, ys: np.ndarray, u: np.ndarray, v: np.ndarray, wts: np.ndarray, norm: float) -> np.ndarray:
    """Weighted least squares for (tx, ty, a, b); coordinates divided by `norm` for conditioning."""
    xn, yn = xs / norm, ys / norm
    sw = wts.sum()
    sx, sy = (wts * xn).sum(), (wts * yn).sum()
    sr = (wts * (xn * xn + yn * yn)).sum()
    # normal equations of rows [1,0,xn,-yn] (u) and [0,1,yn,xn] (v)
    m = np.array(
        [
            [sw, 0.0, sx, -sy],
            [0.0, sw, sy, sx],
            [sx, sy, sr, 0.0],
            [-sy, sx, 0.0, sr],
        ]
    )
    rhs = np.array(
        [
            (wts * u).sum(),
            (wts * v).sum(),
            (wts * (xn * u + yn * v)).sum(),
            (wts * (-yn * u + xn * v)).sum(),
        ]
    )
    try:
        p = np.linalg.solve(m + np.eye(4) * 1e-9 * max(1.0, sw), rhs)
    except np.linalg.LinAlgError:
        p = np.array([np.median(u), np.median(v), 0.0, 0.0])
    p[2] /= norm
    p[3] /= norm
    return p


def texture_map(grey: np.ndarray) -> np.ndarray:
    """Local mean luma gradient magnitude (grey levels per px; Sobel / 8, averaged over 5 x 5) of a grey uint8 frame."""
    g = grey.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.blur(cv2.magnitude(gx, gy), (5, 5)) / 8.0


def fit_global_motion(flow: np.ndarray, params: CameraParams | None = None, grey: np.ndarray | None = None) -> GlobalMotion:
    """Robust similarity fit of one flow field (H x W x 2 float32, px, first -> second frame).

    grey: the first frame of the pair (grey uint8, same size as the flow), optional: when given,
    grid points in flat areas (local gradient < texture_min) are left out of the fit and of every
    statistic, unless too few points are textured (texture_min_points, texture_min_share).
    """
    p = params or CameraParams()
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be H x W x 2, got {flow.shape}")
    h, w = flow.shape[:2]
    rr, cc, xs, ys = _grid(h, w, p.grid_step, p.margin)
    if grey is not None:
        if grey.shape[:2] != (h, w):
            raise ValueError(f"grey frame {grey.shape[:2]} does not match the flow {(h, w)}")
        textured = texture_map(grey)[rr, cc] >= p.texture_min
        if textured.sum() >= max(p.texture_min_points, p.texture_min_share * textured.size):
            rr, cc, xs, ys = rr[textured], cc[textured], xs[textured], ys[textured]
    u = flow[rr, cc, 0].astype(np.float64)
    v = flow[rr, cc, 1].astype(np.float64)
    ok = np.isfinite(u) & np.isfinite(v)
    if not ok.all():
        rr, cc, xs, ys, u, v = rr[ok], cc[ok], xs[ok], ys[ok], u[ok], v[ok]
    if u.size < 4:
        raise ValueError("flow field too small for a global motion fit")
    norm = max(w, h) / 2.0
    params_ = np.array([np.median(u), np.median(v), 0.0, 0.0])
    for _ in range(p.irls_iterations):
        mu = params_[0] + params_[2] * xs - params_[3] * ys
        mv = params_[1] + params_[3] * xs + params_[2] * ys
        r = np.hypot(u - mu, v - mv)
        sigma = max(p.sigma_floor_px, 1.4826 * float(np.median(r)))
        c = 4.685 * sigma
        wts = np.where(r < c, (1.0 - (r / c) ** 2) ** 2, 0.0)
        if wts.sum() < 4:
            break
        new = _solve(xs, ys, u, v, wts, norm)
        # converged: no parameter moves any point by more than 1e-3 px
        moved = max(abs(new[0] - params_[0]), abs(new[1] - params_[1])) + norm * max(abs(new[2] - params_[2]), abs(new[3] - params_[3]))
        params_ = new
        if moved < 1e-3:
            break
    tx, ty, a, b = (float(x) for x in params_)
    mu = tx + a * xs - b * ys
    mv = ty + b * xs + a * ys
    model_mag = np.hypot(mu, mv)
    r = np.hypot(u - mu, v - mv)
    # the static hypothesis wins when at least as many points stay still as follow the fitted model
    mag = np.hypot(u, v)
    static = float(np.mean(mag <= p.zero_px)) >= float(np.mean(r <= p.zero_px + 0.1 * model_mag))
    if static:
        tx = ty = a = b = 0.0
        model_mag = np.zeros_like(mag)
        r = mag
    inlier = r <= np.maximum(p.inlier_px, p.inlier_rel * model_mag)
    return GlobalMotion(
        tx=tx,
        ty=ty,
        scale=float(math.hypot(1.0 + a, b)),
        rotation=float(math.atan2(b, 1.0 + a)),
        inlier_share=float(inlier.mean()),
        camera_px=float(model_mag.mean()),
        residual_px=float(r.mean()),
        residual_p90_px=float(np.percentile(r, 90)),
        mean_radius_px=float(np.hypot(xs, ys).mean()),
        width=int(w),
        height=int(h),
        points=int(u.size),
        static_hypothesis=static,
    )


class _Signed:
    """Running sums of a signed per-pair quantity: net mean and sign consistency."""

    __slots__ = ("neg", "pos")

    def __init__(self) -> None:
        self.pos = 0.0
        self.neg = 0.0

    def add(self, x: float) -> None:
        if x >= 0:
            self.pos += x
        else:
            self.neg -= x

    def net(self, n: int) -> float:
        return (self.pos - self.neg) / max(1, n)

    def consistency(self) -> float:
        total = self.pos + self.neg
        return max(self.pos, self.neg) / total if total > 0 else 0.0


class CameraMotionMeter:
    """Feed the flow of each sampled adjacent-frame pair; `result()` labels the clip.

    Memory is a few floats whatever the clip length.
    """

    COMPONENTS = ("pan", "tilt", "zoom", "rotation")

    def __init__(self, fps: float, params: CameraParams | None = None):
        self.params = params or CameraParams()
        self.fps = float(fps)
        self.pairs = 0
        self._sum = {"camera": 0.0, "object": 0.0, "inlier": 0.0, "gross_t": 0.0, "tx": 0.0, "ty": 0.0}
        self._signed = {k: _Signed() for k in self.COMPONENTS}
        self._prev_t: tuple[float, float] | None = None
        self._flips = 0
        self._flip_pairs = 0
        self._still = 0  # pairs whose own camera speed is below static_speed

    def add(self, flow: np.ndarray, grey: np.ndarray | None = None) -> GlobalMotion:
        """flow: H x W x 2 px at the flow width (`cv2.DISOpticalFlow.calc(first, second)`); grey: `first`
        (recommended: flat areas are left out of the fit).  Returns the pair's fit."""
        return self.add_motion(fit_global_motion(flow, self.params, grey))

    def add_motion(self, gm: GlobalMotion) -> GlobalMotion:
        k = self.fps / float(gm.width)  # px per pair -> width per second
        s = self._sum
        s["camera"] += gm.camera_px * k
        self._still += int(gm.camera_px * k < self.params.static_speed)
        s["object"] += gm.residual_px * k
        s["inlier"] += gm.inlier_share
        tx, ty = gm.tx * k, gm.ty * k
        s["gross_t"] += math.hypot(tx, ty)
        s["tx"] += tx
        s["ty"] += ty
        self._signed["pan"].add(-tx)
        self._signed["tilt"].add(ty)
        self._signed["zoom"].add(math.log(max(gm.scale, 1e-6)) * gm.mean_radius_px * k)
        self._signed["rotation"].add(gm.rotation * gm.mean_radius_px * k)
        # a flip needs both translations above noise (a quarter of the static threshold)
        floor = 0.25 * self.params.static_speed
        if math.hypot(tx, ty) > floor:
            if self._prev_t is not None:
                self._flip_pairs += 1
                self._flips += int(tx * self._prev_t[0] + ty * self._prev_t[1] < 0)
            self._prev_t = (tx, ty)
        self.pairs += 1
        return gm

    def result(self) -> dict:
        """Per-clip camera motion: label, confidence and speeds (width per second); label None without pairs."""
        n = self.pairs
        if n == 0:
            return {
                "camera_motion": None,
                "camera_motion_confidence": None,
                "camera_speed": None,
                "object_motion": None,
                "camera_inlier_share": None,
                "pan_speed": None,
                "tilt_speed": None,
                "zoom_speed": None,
                "rotation_speed": None,
                "shake_flip_share": None,
                "still_pair_share": None,
                "camera_pairs": 0,
            }
        s = self._sum
        camera, obj, inlier = s["camera"] / n, s["object"] / n, s["inlier"] / n
        nets = {c: self._signed[c].net(n) for c in self.COMPONENTS}
        gross_t = s["gross_t"] / n
        net_t = math.hypot(s["tx"] / n, s["ty"] / n)
        flips = self._flips / self._flip_pairs if self._flip_pairs else 0.0
        still = self._still / n
        label, conf = self._label(camera, obj, inlier, nets, gross_t, net_t, flips, still)
        return {
            "camera_motion": label,
            "camera_motion_confidence": float(min(1.0, max(0.0, conf))),
            "camera_speed": camera,
            "object_motion": obj,
            "camera_inlier_share": inlier,
            "pan_speed": nets["pan"],
            "tilt_speed": nets["tilt"],
            "zoom_speed": nets["zoom"],
            "rotation_speed": nets["rotation"],
            "shake_flip_share": flips,
            "still_pair_share": still,
            "camera_pairs": n,
        }

    def _label(self, camera, obj, inlier, nets, gross_t, net_t, flips, still) -> tuple[str, float]:
        p = self.params
        if inlier < p.complex_inlier_share and camera + obj >= p.static_speed:
            return "complex", 1.0 - inlier
        if camera < p.static_speed:
            return "static", inlier * (1.0 - camera / p.static_speed)
        if still >= p.still_pair_share:
            return "static", inlier * still
        if flips >= p.shake_min_flips and gross_t >= p.shake_min_speed and net_t <= p.shake_max_net * gross_t and gross_t >= 0.5 * camera:
            return "shake", min(1.0, flips / 0.5) * (1.0 - net_t / gross_t)
        ranked = sorted(self.COMPONENTS, key=lambda c: -abs(nets[c]))
        d1, d2 = abs(nets[ranked[0]]), abs(nets[ranked[1]])
        top = ranked[0]
        consistency = self._signed[top].consistency()
        share = d1 / (d1 + d2) if d1 + d2 > 0 else 0.0
        if d1 >= p.dominance * d2 and consistency >= p.min_consistency and d1 >= 0.5 * p.static_speed:
            positive = nets[top] > 0
            label = {
                "pan": "pan_right" if positive else "pan_left",
                "tilt": "tilt_up" if positive else "tilt_down",
                "zoom": "zoom_in" if positive else "zoom_out",
                "rotation": "rotate",
            }[top]
            return label, consistency * share * inlier
        return "complex", 1.0 - consistency * share
