"""The people of a portrait job: each one's curated photos (and a face LoRA reused from an earlier
job), which the portrait stages read as given artefacts.

A style or pose job has one person, the photos given on the command line (curation run
`curation`). A template job has one person per chosen face (`--person N=PHOTOS_OR_JOB`): photos
are curated within the job (run `curation-face<N>`; faces given the same photos share one
curation), an earlier job's folder is reused: its curated part, and its face LoRA when it was
trained on the same base model, are copied into this job under their content's hash (nothing
outside the job is ever written, and the copies key the stages that read them).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from flows.execute import Artefact
from flows.runs import RunRecord, runs_dir
from tasks.catalog import LORA_FILE, TEMPLATE, TRAIN
from tasks.face_runs import face_instance, split_instance

PERSON_ARG = re.compile(r"^(\d{1,4})=(.+)$")
PEOPLE_DIR = "people"  # copies of reused jobs' artefacts, by content
REUSABLE_STATES = ("done", "cached", "reused")


class NoUsablePhotos(RuntimeError):
    """No photo of a person survived curation: the job stops before training."""


@dataclass(frozen=True)
class Person:
    part: Artefact  # the person's curated photos (a dataset part inside the job)
    usable: int  # photos with status ok
    lora: Artefact | None = None  # a face LoRA reused from an earlier job


def parse_persons(values: list[str]) -> dict[int, list[str]]:
    """`--person N=PHOTOS_OR_JOB` values -> {face number: [path]}; two persons for one face is an error."""
    persons: dict[int, list[str]] = {}
    for value in values:
        match = PERSON_ARG.match(value.strip())
        if not match:
            raise ValueError(f"--person {value!r}: expected N=PHOTOS_OR_JOB, e.g. 2=photos/bob")
        number, where = int(match.group(1)), match.group(2)
        if number < 1:
            raise ValueError(f"--person {value!r}: face numbers start at 1")
        if number in persons:
            raise ValueError(f"face {number} is given two persons: {persons[number][0]!r} and {where!r}")
        persons[number] = [where]
    return persons


def is_job_folder(sources: list[str]) -> bool:
    return len(sources) == 1 and runs_dir(Path(sources[0])).is_dir()


def check_person_sources(persons: dict[int, list[str]], mode: str, base_spec: str) -> None:
    """Before any work: every photo path exists, every reused job has what it takes."""
    for face, sources in persons.items():  # [] stands for the job's photos, which curation reads as photos
        if is_job_folder(sources):
            reusable_files(Path(sources[0]), mode, base_spec)
            continue
        for source in sources:
            if not Path(source).exists():
                raise FileNotFoundError(f"face {face}: no such photo or folder: {source}")


def reusable_files(folder: Path, mode: str, base_spec: str) -> tuple[Path, Path | None]:
    """(curated part, face LoRA or None) of an earlier job with one person; both inside `folder`.

    The LoRA is reused only by a trained-mode job on the same base model; otherwise the person's
    LoRA is trained again from the part (or the adapter encodes its photos)."""
    records = []
    for path in sorted(runs_dir(folder).glob("*.json")):
        try:
            records.append(RunRecord.model_validate_json(path.read_text()))
        except ValueError as error:
            raise ValueError(f"{path}: not a run record ({str(error).splitlines()[0]})") from None
    curations = [r for r in records if r.kind == "curate" and r.part]
    if len(curations) != 1:
        raise ValueError(f"{folder}: reusing a job needs one person's curated photos; it has {len(curations)} "
                         "curation runs with a dataset part (give that person's photos instead)")
    part = _inside(folder, curations[0].part)
    portrait = next((r for r in records if r.kind == "portrait"), None)
    if mode != TRAIN or portrait is None or portrait.config.get("mode") != TRAIN \
            or portrait.config.get("base", {}).get("spec") != base_spec:
        return part, None
    trained = [s for name, s in portrait.stages.items() if split_instance(name)[0] == "train"
               and s.state in REUSABLE_STATES and s.outputs]
    return part, _inside(folder, trained[0].outputs[0]) if len(trained) == 1 else None


def _inside(folder: Path, relative: str) -> Path:
    """A file a run record names, refused unless it is a regular file inside the job folder."""
    root = folder.resolve()
    path = (root / relative).resolve()
    if "://" in relative or not path.is_relative_to(root) or not path.is_file():
        raise ValueError(f"{folder}: its run record names {relative!r}, which is not a file inside the job folder")
    return path


def gather_people(job, photos: list[str], config, runner, reuse_batches: bool, forced) -> dict[int | None, Person]:
    """{None: the person} (style, pose) or {face: its person} (template; a face given [] gets
    `photos`), curated or reused."""
    if config.kind != TEMPLATE:
        return {None: _curated(job, photos, config, runner, "curation", reuse_batches, forced, "")}
    people: dict[int | None, Person] = {}
    seen: dict[tuple[str, ...], Person] = {}
    for face, given in sorted(config.persons.items()):
        sources = given or photos
        if not sources:
            raise NoUsablePhotos(f"face {face}: no photos given")
        if tuple(sources) not in seen:
            seen[tuple(sources)] = (_reused(job, Path(sources[0]), config) if is_job_folder(sources) else
                                    _curated(job, sources, config, runner, f"curation-face{face}", reuse_batches,
                                             forced, f"face {face}: "))
        people[face] = seen[tuple(sources)]
    return people


def _curated(job, photos: list[str], config, runner, run_id: str, reuse_batches: bool, forced,
             whose: str) -> Person:
    from flows.curate import curate_photos
    from tasks.portrait_rows import curated_ok

    curated = curate_photos(job, photos, config.curation, runner, run_id=run_id, reuse_batches=reuse_batches,
                            forced=forced)
    part = curated["part"]
    usable = curated_ok(str(job.root), part) if part else []
    if not usable:
        raise NoUsablePhotos(whose + no_photo_message(job.root, part))
    return Person(part=Artefact(key=Path(part).stem, path=part), usable=len(usable))


def _reused(job, folder: Path, config) -> Person:
    from tasks.portrait_rows import curated_ok
    from tasks.storage import atomic_write_bytes

    part_file, lora_file = reusable_files(folder, config.mode, config.base.spec)
    part = _copied(job, part_file, "{sha}.parquet", atomic_write_bytes)
    usable = len(curated_ok(str(job.root), part.path))
    if not usable:
        raise NoUsablePhotos(f"{folder}: its curated photos hold no usable face")
    lora = _copied(job, lora_file, "{sha}/" + LORA_FILE, atomic_write_bytes) if lora_file else None
    return Person(part=part, usable=usable, lora=lora)


def _copied(job, source: Path, name: str, write) -> Artefact:
    data = source.read_bytes()
    key = hashlib.sha256(data).hexdigest()[:24]
    relative = f"{PEOPLE_DIR}/{name.format(sha=key)}"
    if not (job.root / relative).is_file():
        write(job.root / relative, data)
    return Artefact(key=key, path=relative)


def given_artefacts(people: dict[int | None, Person]) -> dict[str, Artefact]:
    """The artefacts the people give the portrait chain, by run name."""
    given = {}
    for face, person in people.items():
        given[face_instance("curate", face)] = person.part
        if person.lora is not None and face is not None:
            given[face_instance("train", face)] = person.lora
    return given


def given_record(people: dict[int | None, Person]) -> dict[str, dict]:
    """`given_artefacts` for the run record, with each person's usable photo count (status plans from it)."""
    usable = {face_instance("curate", f): p.usable for f, p in people.items()}
    return {name: {"key": a.key, "path": a.path, **({"usable": usable[name]} if name in usable else {})}
            for name, a in given_artefacts(people).items()}


def from_record(given: dict[str, dict]) -> tuple[dict[str, Artefact], dict[int | None, int]]:
    """(given artefacts, usable photos per face (None: the one person)) from a run record."""
    artefacts, usable = {}, {}
    for name, entry in given.items():
        artefacts[name] = Artefact(key=entry["key"], path=entry["path"])
        stage, face = split_instance(name)
        if stage == "curate":
            usable[face] = int(entry.get("usable", 0))
    return artefacts, usable


def no_photo_message(root: Path, part: str | None) -> str:
    from tasks.records import from_table
    from tasks.storage import read_parquet

    lines = ["no photo survived curation; nothing to train on:"]
    if part:
        for r in from_table(read_parquet(root / part)):
            lines.append(f"  {r.source}: {r.status} - {r.reason}")
    else:
        lines.append("  (no photo was given, or every photo was already curated by another run)")
    return "\n".join(lines)
