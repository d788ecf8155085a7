"""Training: start, watch, cancel and resume background jobs: ``explorer train``, and ``explorer ingest`` of a video folder."""

import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer import api
from pages import _shared as ui

ui.frame("training")

STATUS_ICON = {"queued": ":material/schedule:", "running": ":material/directions_run:", "finished": ":material/check_circle:",
               "failed": ":material/error:", "cancelled": ":material/cancel:"}

st.title("Training")
st.caption("Jobs run as separate `explorer train` processes recorded in a SQLite database: they survive a browser "
           "refresh and an app restart. At most one job uses the GPU at a time; the others queue. A finished "
           "job's checkpoint appears in the sidebar's model picker.")

store = ui.jobs()
names = api.list_collections()
kinds = api.model_kinds()
ui.default("keep_tr_kind", api.DEFAULT_KIND if api.DEFAULT_KIND in kinds else kinds[0])
ui.default("keep_tr_epochs", 20)
ui.default("keep_tr_device", "auto")
ui.default("keep_tr_seed", 0)
ui.default("keep_tr_overrides", "")
if names and st.session_state.get("keep_tr_collection") not in names:
    st.session_state["keep_tr_collection"] = ui.ctx()["collection"] or names[0]

with st.form("new_job"):
    st.markdown("**Start a job**")
    c = st.columns([2, 2, 1, 2, 1])
    kind = c[0].selectbox("Model kind", kinds, key="keep_tr_kind")
    if names:
        coll = c[1].selectbox("Collection", names, key="keep_tr_collection")
    else:
        coll = None
        c[1].error("No collection (set EXPLORER_DATA)")
    epochs = c[2].number_input("Epochs", min_value=1, max_value=10_000, step=1, key="keep_tr_epochs")
    device = c[3].radio("Device", ["auto", "cpu", "cuda"], key="keep_tr_device", horizontal=True,
                        help="auto: the GPU when there is one. GPU jobs run one at a time; others queue.")
    seed = c[4].number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="keep_tr_seed")
    overrides_text = st.text_input("Config overrides (optional)", key="keep_tr_overrides",
                                   placeholder="e.g. batch_size=32 loss=hinge")
    submitted = st.form_submit_button("Start training", type="primary")

if submitted:
    if not coll:
        st.error("No collection to train on: set EXPLORER_DATA to the folder holding your collections.")
    else:
        overrides = ui.guard(api.parse_overrides, overrides_text, what="Config overrides")
        if overrides is not None:
            job = ui.guard(store.submit, kind, coll, epochs=int(epochs), device=device, seed=int(seed),
                           overrides=overrides, what="Cannot start the job")
            if job:
                st.session_state["keep_tr_job"] = job.id
                verb = "started" if job.status == "running" else job.status
                st.success(f"Job {job.id} {verb}: {job.kind} on {ui.esc(job.collection)}, run directory {ui.esc(job.run_dir)}")


with st.expander("Add videos: ingest a folder of videos into a new collection", icon=":material/movie:"):
    ui.default("keep_in_source", "")
    ui.default("keep_in_name", "")
    ui.default("keep_in_transcripts", "auto")
    ui.default("keep_in_segments", "")
    ui.default("keep_in_gap", 0.0)
    ui.default("keep_in_workers", 1)
    with st.form("new_ingest"):
        st.caption("Videos in a folder on this server (mp4, mkv, webm, ...), each with subtitles of the same name "
                   "(.srt / .vtt), a plain transcript (.txt, aligned to the speech), or neither (speech recognition, "
                   "US English). The collection is written to the collections folder and appears in the sidebar.")
        c = st.columns([3, 2, 2])
        source = c[0].text_input("Video folder (on the server)", key="keep_in_source",
                                 placeholder="/data/programmes")
        name = c[1].text_input("Collection name", key="keep_in_name", placeholder="my_programmes")
        transcripts = c[2].radio("Transcripts", list(api.transcript_sources()), key="keep_in_transcripts",
                                 horizontal=True, help="auto: subtitles, else STEM.txt aligned, else speech recognition")
        d = st.columns([3, 1, 1])
        segments_file = d[0].text_input("Segment boundaries (optional TSV: video_id, start, end, ...)",
                                        key="keep_in_segments")
        gap = d[1].number_input("Pause ends a segment (s, 0 = off)", min_value=0.0, max_value=60.0, step=0.1,
                                key="keep_in_gap")
        workers = d[2].number_input("Workers", min_value=1, max_value=16, step=1, key="keep_in_workers")
        ingest_submitted = st.form_submit_button("Start ingest")
    if ingest_submitted:
        options = {"transcripts": transcripts, "gap_seconds": float(gap), "workers": int(workers)}
        if segments_file.strip():
            options["segments"] = segments_file.strip()
        job = ui.guard(store.submit_ingest, source.strip(), name.strip(), options, what="Cannot start the ingest")
        if job:
            st.session_state["keep_tr_job"] = job.id
            st.success(f"Ingest job {job.id} {job.status}: {ui.esc(source)} into collection {ui.esc(name)}")


def _when(t) -> str:
    return datetime.fromtimestamp(t).strftime("%m-%d %H:%M:%S") if t else ""


def _duration(job) -> str:
    if not job.started:
        return ""
    seconds = (job.ended or time.time()) - job.started
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


all_jobs = store.list()
st.subheader("Jobs")
if not all_jobs:
    st.info("No training job yet: start one above.")
    st.stop()

rows = [{"job": j.id, "status": j.status, "kind": j.kind,
         "collection": Path(j.collection).name, "epochs": j.epochs, "device": j.device, "seed": j.seed,
         "created": _when(j.created), "ran": _duration(j), "attempts": j.attempts, "message": j.message or ""}
        for j in all_jobs]
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=min(38 * (len(rows) + 1), 300))

ids = [j.id for j in all_jobs]
if st.session_state.get("keep_tr_job") not in ids:
    st.session_state["keep_tr_job"] = ids[0]
by_id = {j.id: j for j in all_jobs}
job_id = st.selectbox("Job", ids, key="keep_tr_job",
                      format_func=lambda i: f"{i}: {by_id[i].kind} on {Path(by_id[i].collection).name} — {by_id[i].status}")


def _cancel(i: int) -> None:
    try:
        store.cancel(i)
    except ui.USER_ERRORS as e:
        st.session_state["_tr_error"] = f"Cannot cancel job {i}: {ui.message(e)}"


def _resume(i: int) -> None:
    try:
        store.resume(i)
    except ui.USER_ERRORS as e:
        st.session_state["_tr_error"] = f"Cannot resume job {i}: {ui.message(e)}"


def _log(job) -> None:
    with st.expander("Log", expanded=job.status == "failed"):
        st.code(api.job_log_tail(job.log_path, lines=40) or "(empty)", language=None)


@st.fragment(run_every=2.0 if by_id[job_id].active else None)
def job_panel(i: int) -> None:
    store.reconcile()
    job = store.get(i)
    if job.status != by_id[i].status:
        st.rerun()  # the status changed: refresh the whole page (table, refresh timer)
    err = st.session_state.pop("_tr_error", None)
    if err:
        st.error(err)  # built from ui.message(), already escaped
    if job.kind == "ingest":
        return ingest_panel(job)
    if job.kind == "warm":
        return warm_panel(job)
    st.markdown(f"**Job {job.id}** · {STATUS_ICON.get(job.status, '')} **{job.status}** · {job.kind} on "
                f"{ui.esc(Path(job.collection).name)} · {job.epochs} epochs · device {job.device} · seed {job.seed}"
                + (f" · pid {job.pid}" if job.status == "running" else ""))
    st.caption(f"Run directory: {ui.esc(job.run_dir)}" + (f" · overrides {ui.esc(job.config_overrides)}" if job.config_overrides else ""))
    last = job.last_good()
    if job.status == "failed":
        st.error(f"Failed: {ui.esc(job.message)}")
    elif job.status == "cancelled":
        st.warning(f"Cancelled. {'Last good checkpoint: epoch ' + str(last['epoch']) + ', step ' + str(last['global_step']) if last else 'No checkpoint was written.'}")
    elif job.status == "finished":
        st.success("Finished: its checkpoint is in the sidebar's model picker." + (f" ({ui.esc(job.message)})" if job.message else ""))
    elif job.status == "queued":
        st.info(ui.esc(store.queue_reason(job) or "queued"))
    elif job.status == "running" and job.cancel_requested:
        st.info("Cancelling: the process was asked to stop (it is killed if it has not stopped within a few seconds).")
    b = st.columns(4)
    if job.active and not job.cancel_requested:
        b[0].button("Cancel", key=f"cancel_{job.id}", on_click=_cancel, args=(job.id,), type="primary")
    if job.status in ("failed", "cancelled"):
        b[1].button("Resume" if last else "Restart", key=f"resume_{job.id}", on_click=_resume, args=(job.id,),
                    help="A new process continues from the last good checkpoint (latest.pt)" if last
                    else "No checkpoint was written: start again from scratch")
    ckpt = job.checkpoint
    if ckpt is not None and job.status != "running":
        ckpt_id = f"runs/{Path(job.run_dir).name}/{ckpt.name}"
        if b[2].button("Use its checkpoint", key=f"use_{job.id}", help=f"Pick {ckpt_id} in the sidebar"):
            # This panel is a fragment: a click reruns only the fragment, so the sidebar would not change.
            # Hand the choice to the sidebar (ui.sidebar picks up "_use_model") and rerun the whole app.
            st.session_state["_use_model"] = ckpt_id
            st.rerun(scope="app")

    curves = api.run_curves(job.run_dir)
    steps, epochs_log = curves["steps"], curves["epochs"]
    prog = api.run_progress(job.run_dir)
    if prog["total_steps"]:
        parts = [f"step {prog['step']:,} of {prog['total_steps']:,}", f"epoch {prog['epoch']} of {prog['epochs']} done"]
        if prog["steps_per_s"] and job.status == "running":
            parts.append(f"{prog['steps_per_s']:.2f} steps/s")
            if prog["eta_s"] is not None:
                eta = prog["eta_s"]
                parts.append(f"about {eta:.0f} s left" if eta < 90 else f"about {eta / 60:.0f} min left")
        st.progress(min(1.0, prog["step"] / prog["total_steps"]), text=" · ".join(parts))
    if prog["best_val"]:
        m = st.columns(3)
        m[0].metric("best val P@10", f"{prog['best_val']['val_p@10']:.4f}")
        m[1].metric("its val MAP", f"{prog['best_val']['val_map']:.4f}")
        m[2].metric("at epoch", prog["best_val"]["epoch"])
    left, right = st.columns([3, 2], gap="medium")
    with left:
        if steps:
            keys = [k for k in steps[-1] if k not in ("type", "epoch", "step") and isinstance(steps[-1][k], (int, float))]
            fig = go.Figure()
            x = [r.get("step") for r in steps]
            for k in keys:
                fig.add_trace(go.Scattergl(x=x, y=[r.get(k) for r in steps], mode="lines", name=k))
            fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, title={"text": "losses per step", "font": {"size": 13}},
                              xaxis={"title": "step"}, legend={"orientation": "h"})
            st.plotly_chart(fig, width="stretch", config={"displaylogo": False}, key=f"loss_{job.id}")
        else:
            st.caption("No step logged yet.")
        if epochs_log:
            vfig = go.Figure()
            for k in ("val_p@10", "val_map"):
                vfig.add_trace(go.Scatter(x=[r["epoch"] for r in epochs_log], y=[r.get(k) for r in epochs_log],
                                          mode="lines+markers", name=k))
            vfig.update_layout(height=220, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                               title={"text": "validation per epoch", "font": {"size": 13}}, xaxis={"title": "epoch"})
            st.plotly_chart(vfig, width="stretch", config={"displaylogo": False}, key=f"val_{job.id}")
    with right:
        grid = api.latest_sample_grid(job.run_dir)
        if grid is not None:
            st.image(str(grid), caption=f"{grid.name}: 8 val transcripts x 8 noise vectors", width="stretch")
        else:
            st.caption("The sample grid appears after the first epoch (generative kinds only).")
    _log(job)


def warm_panel(job) -> None:
    """A job of ``explorer warm`` (started from the Overview page): pairs done, the current stage, its log."""
    st.markdown(f"**Job {job.id}** · {STATUS_ICON.get(job.status, '')} **{job.status}** · warming the app's caches "
                + ("of every shipped model" if job.config_overrides.get("all_shipped") else "of the default models")
                + (f" · pid {job.pid}" if job.status == "running" else ""))
    prog = api.warm_progress(job)
    if prog["total"]:
        left = f" · about {api.format_seconds(prog['eta_s'])} left" if prog["eta_s"] else ""
        st.progress(prog["done"] / prog["total"], text=f"{prog['done']} of {prog['total']} model/collection pair(s){left}")
        st.dataframe(pd.DataFrame(prog["pairs"]), hide_index=True, width="stretch")
    _status_and_buttons(job, "", "Run it again: pairs already warm are skipped")
    _log(job)


def _status_and_buttons(job, finished_hint: str, resume_help: str) -> None:
    """The status line and Cancel / Resume of a job that is not a training run (ingest, warm)."""
    if job.status == "failed":
        st.error(f"Failed: {ui.esc(job.message)}")
    elif job.status == "cancelled":
        st.warning(ui.esc(job.message or "cancelled"))
    elif job.status == "finished":
        st.success(f"Finished: {ui.esc(job.message or '')}{finished_hint}")
    elif job.status == "queued":
        st.info(ui.esc(store.queue_reason(job) or "queued"))
    b = st.columns(4)
    if job.active and not job.cancel_requested:
        b[0].button("Cancel", key=f"cancel_{job.id}", on_click=_cancel, args=(job.id,), type="primary")
    if job.status in ("failed", "cancelled"):
        b[1].button("Resume", key=f"resume_{job.id}", on_click=_resume, args=(job.id,), help=resume_help)


def ingest_panel(job) -> None:
    opts = job.config_overrides
    st.markdown(f"**Job {job.id}** · {STATUS_ICON.get(job.status, '')} **{job.status}** · ingest of "
                f"{ui.esc(opts.get('source', '?'))} into collection **{ui.esc(Path(job.collection).name)}**"
                + (f" · pid {job.pid}" if job.status == "running" else ""))
    st.caption("Options: " + ui.esc(", ".join(f"{k}={v}" for k, v in opts.items() if k != "source")))
    prog = api.ingest_progress(job)
    if prog["total"]:
        st.progress(min(1.0, prog["done"] / prog["total"]), text=f"{prog['done']} of {prog['total']} video(s) done")
    _status_and_buttons(job, ". Pick the collection in the sidebar.", "Run the ingest again: videos already done are skipped")
    if prog["report"] is not None:
        t = prog["report"]["totals"]
        st.caption(f"{t['videos']} video(s): " + ", ".join(f"{v} {k}" for k, v in sorted(t["status"].items()))
                   + f" · {t['segments_in_collection']} segment(s) · {t['wall_seconds']} s")
    if prog["problems"]:
        st.markdown(f"**{len(prog['problems'])} video(s) skipped or incomplete**")
        st.dataframe(pd.DataFrame(prog["problems"]), hide_index=True, width="stretch")
    _log(job)


job_panel(job_id)
