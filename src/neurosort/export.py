"""Export a neurosort output folder to other tools' formats (Phy) through SpikeInterface."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from neurosort.config import PreprocessConfig, SortConfig
from neurosort.errors import InputError
from neurosort.log import get_logger
from neurosort.output import check_replaceable, read_config, read_result
from neurosort.types import Recording, SortResult

logger = get_logger(__name__)

MAX_SPIKES_FOR_TEMPLATES = 500


def to_spikeinterface_recording(recording: Recording) -> Any:
    """A SpikeInterface recording in microvolts for ``recording``.

    A recording opened through SpikeInterface is reused lazily; an array-backed one is read
    into memory as float32 (4 bytes x samples x channels: about 350 MB for one hour of one
    channel at 24 kHz).
    """
    import spikeinterface.core as si

    source = recording.spikeinterface_recording
    if source is None:
        logger.info(
            "reading %s into memory for export (%.0f MB)",
            recording.name,
            recording.n_samples * recording.n_channels * 4 / 1e6,
        )
        si_recording = si.NumpyRecording([recording.get_traces()], recording.sampling_frequency_hz)
    elif recording.gain_uv != 1.0 or recording.offset_uv != 0.0:
        import spikeinterface.preprocessing as spre

        si_recording = spre.scale(
            source, gain=recording.gain_uv, offset=recording.offset_uv, dtype="float32"
        )
    else:
        si_recording = source
    return si_recording


def filtered(si_recording: Any, config: PreprocessConfig) -> Any:
    """The band-pass the sorter used, applied lazily, so Phy shows what was sorted."""
    import spikeinterface.preprocessing as spre

    nyquist = si_recording.get_sampling_frequency() / 2.0
    if config.bandpass_high_hz >= 0.95 * nyquist:
        return spre.highpass_filter(
            si_recording, freq_min=config.bandpass_low_hz, filter_order=config.filter_order
        )
    return spre.bandpass_filter(
        si_recording,
        freq_min=config.bandpass_low_hz,
        freq_max=config.bandpass_high_hz,
        filter_order=config.filter_order,
    )


@contextmanager
def numpy_template_similarity() -> Iterator[None]:
    """Use SpikeInterface's numpy template similarity instead of its numba kernel.

    The numba kernel is compiled uncached in every process (20-60 s, against milliseconds of
    work for a few dozen templates). Without the private names this changes nothing.
    """
    from spikeinterface.postprocessing import template_similarity as module

    numpy_version = getattr(module, "_compute_similarity_matrix_numpy", None)
    original = getattr(module, "_compute_similarity_matrix", None)
    if numpy_version is None or original is None:
        yield
        return
    module._compute_similarity_matrix = numpy_version
    try:
        yield
    finally:
        module._compute_similarity_matrix = original


def export_phy(
    out_dir: str | Path,
    recording: Recording,
    phy_dir: str | Path,
    *,
    compute_pc_features: bool = True,
    n_jobs: int = 1,
) -> Path:
    """Write a Phy folder (params.py, spike_times.npy, spike_clusters.npy, ...) to ``phy_dir``.

    ``out_dir`` is a finished ``neurosort sort`` folder and ``recording`` the recording it
    sorted. Waveforms, templates and PC features come from SpikeInterface on the band-passed
    recording; templates use at most 500 spikes per unit. PC features cost one pass over
    every spike; ``compute_pc_features=False`` skips them (Phy's feature view stays empty).
    """
    check_replaceable(phy_dir, marker="params.py")
    result = read_result(out_dir)
    config = read_config(out_dir)
    if len(result.unit_ids) == 0:
        raise InputError(f"{out_dir}: the sorting has no units; nothing to export to Phy")
    if result.sampling_frequency_hz != recording.sampling_frequency_hz:
        raise InputError(
            f"{out_dir}: sorted at {result.sampling_frequency_hz:g} Hz but the recording "
            f"is {recording.sampling_frequency_hz:g} Hz"
        )
    # Small per-unit PCA and SVD problems: one BLAS thread is faster and avoids oversubscription.
    with threadpool_limits(1):
        write_phy_folder(result, config, recording, Path(phy_dir), compute_pc_features, n_jobs)
    logger.info("Phy folder written to %s (%d units)", phy_dir, len(result.unit_ids))
    return Path(phy_dir)


def write_phy_folder(
    result: SortResult,
    config: SortConfig,
    recording: Recording,
    phy_dir: Path,
    compute_pc_features: bool,
    n_jobs: int,
) -> None:
    import spikeinterface.core as si
    from spikeinterface.exporters import export_to_phy

    si_recording = filtered(to_spikeinterface_recording(recording), config.preprocess)
    if not si_recording.has_probe():
        si_recording.set_dummy_probe_from_locations(recording.channel_locations_um)
    job_kwargs = {"n_jobs": n_jobs, "chunk_duration": "10s", "progress_bar": False}
    analyzer = si.create_sorting_analyzer(
        result.to_sorting(),
        si_recording,
        format="memory",
        sparse=True,
        seed=config.seed,
        job_kwargs=job_kwargs,
    )
    analyzer.compute(
        {
            "random_spikes": {"max_spikes_per_unit": MAX_SPIKES_FOR_TEMPLATES, "seed": config.seed},
            "waveforms": {},
            "templates": {},
        },
        **job_kwargs,
    )
    with numpy_template_similarity():
        analyzer.compute("template_similarity")
    export_to_phy(
        analyzer,
        phy_dir,
        compute_pc_features=compute_pc_features,
        compute_amplitudes=True,
        copy_binary=True,
        remove_if_exists=True,
        add_quality_metrics=False,
        add_template_metrics=False,
        verbose=False,
        **job_kwargs,
    )
