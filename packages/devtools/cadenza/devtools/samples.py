"""Sample audio for demos and manual runs, made on this machine from Debian packages.

Real music is rendered from the MIDI files of Debian's `openttd-openmsx` with
`fluidsynth` and the `timgm6mb-soundfont`; speech comes from `espeak-ng`. The set
covers the formats Cadenza decodes (WAV, FLAC, Ogg Vorbis, MP3) and includes one file
that is not audio, to show how a job reports bad input. Nothing is downloaded.

    bazel run //packages/devtools:make_samples -- --output DIR
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf

from cadenza.devtools.localstack import working_directory

MIDI_DIR = pathlib.Path("/usr/share/games/openttd/baseset/openmsx")
SOUNDFONT = pathlib.Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
MIDI_TRACKS = ("be_sharp_bw_redfarn", "city_blues_redfarn", "coconut_run2")
RENDER_RATE = 22050


class SampleToolMissing(RuntimeError):
    """A program or data file that sample making needs is not installed."""


def _require(path: pathlib.Path | str | None, what: str, package: str) -> None:
    if path is None or not pathlib.Path(path).exists():
        raise SampleToolMissing(
            f"{what} not found ({path or 'not on PATH'}): install Debian's `{package}` "
            "(./dev setup installs it)"
        )


def render_midi(midi: pathlib.Path, wav: pathlib.Path) -> None:
    """Renders a MIDI file to a mono-or-stereo WAV with fluidsynth."""
    fluidsynth = shutil.which("fluidsynth")
    _require(fluidsynth, "fluidsynth", "fluidsynth")
    _require(SOUNDFONT, "the TimGM6mb soundfont", "timgm6mb-soundfont")
    subprocess.run(
        [
            fluidsynth,
            "-ni",
            "-q",
            "-F",
            str(wav),
            "-r",
            str(RENDER_RATE),
            str(SOUNDFONT),
            str(midi),
        ],
        check=True,
        capture_output=True,
    )


def speak(text: str, wav: pathlib.Path) -> None:
    """Speech synthesised by espeak-ng into a WAV file."""
    espeak = shutil.which("espeak-ng")
    _require(espeak, "espeak-ng", "espeak-ng")
    subprocess.run([espeak, "-w", str(wav), text], check=True, capture_output=True)


def tone(frequency: float, seconds: float, rate: int) -> np.ndarray:
    """A sine tone at -6 dBFS."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def make_samples(output: pathlib.Path) -> list[pathlib.Path]:
    """Writes the sample set into `output` (skipping files already there); returns its files."""
    output.mkdir(parents=True, exist_ok=True)
    made = []
    formats = [("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")]
    with tempfile.TemporaryDirectory() as scratch:
        for name, (ext, subtype) in zip(MIDI_TRACKS, formats * 2, strict=False):
            target = output / f"{name}.{ext}"
            if not target.exists():
                midi = MIDI_DIR / f"{name}.mid"
                _require(midi, f"MIDI file {midi.name}", "openttd-openmsx")
                wav = pathlib.Path(scratch) / f"{name}.wav"
                render_midi(midi, wav)
                audio, rate = sf.read(wav, dtype="float32")
                sf.write(target, audio, rate, subtype=subtype)
            made.append(target)
        clip = output / f"{MIDI_TRACKS[1]}_clip.mp3"
        if not clip.exists():  # a re-upload: 20 s cut 30 s into a track, as a smaller MP3
            audio, rate = sf.read(output / f"{MIDI_TRACKS[1]}.{formats[1][0]}", dtype="float32")
            sf.write(clip, audio[30 * rate : 50 * rate], rate, subtype="MPEG_LAYER_III")
        made.append(clip)
        speech = output / "speech.mp3"
        if not speech.exists():
            wav = pathlib.Path(scratch) / "speech.wav"
            speak("Cadenza processes media at scale, one small job at a time.", wav)
            audio, rate = sf.read(wav, dtype="float32")
            sf.write(speech, audio, rate, subtype="MPEG_LAYER_III")
        made.append(speech)
    a440 = output / "a440.wav"
    if not a440.exists():
        sf.write(a440, tone(440.0, 3.0, 16000), 16000, subtype="PCM_16")
    made.append(a440)
    broken = output / "not_audio.wav"
    if not broken.exists():
        broken.write_bytes(b"This is a text file with an audio file's name.\n")
    made.append(broken)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make Cadenza's sample audio set.")
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        required=True,
        help="folder to write to (relative: to where bazel was run)",
    )
    args = parser.parse_args(argv)
    try:
        files = make_samples((working_directory() / args.output).resolve())
    except SampleToolMissing as err:
        print(f"make_samples: {err}", file=sys.stderr)
        return 2
    for path in files:
        print(f"{path.stat().st_size:>10,d}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
