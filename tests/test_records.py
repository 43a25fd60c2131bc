"""Reading and writing CinC 2020 records: the real samples, the format's variants, and every kind of bad input."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from team_code.io import records
from team_code.io.records import (
    STANDARD_LEADS,
    Header,
    RecordError,
    check_record_name,
    load_cpsc2018,
    load_record,
    parse_header,
    read_cpsc_reference,
    read_header,
    record_names,
    write_record,
)
from team_code.labels import to_classes

NUM_CINC_SAMPLES = 50
NUM_CPSC_SAMPLES = 10


def _checksum(values: np.ndarray) -> int:
    """WFDB checksum: the sum of a lead's samples as a 16-bit signed value."""
    return int((int(values.astype(np.int64).sum()) + 32768) % 65536 - 32768)


def _lead_fields(header_text: str) -> list[list[str]]:
    return [line.split() for line in header_text.splitlines()[1:13]]


@pytest.fixture()
def copy_record(real_samples: Path, tmp_path: Path) -> Callable[[str], Path]:
    """Copy a real record into tmp_path (so a test can damage it) and return the copy's base path."""

    def copy(name: str) -> Path:
        for suffix in (".hea", ".mat"):
            shutil.copy(real_samples / "cinc2021" / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
        return tmp_path / name

    return copy


def _edit_header(base: Path, edit: Callable[[str], str]) -> None:
    path = base.with_suffix(".hea")
    path.write_bytes(edit(path.read_bytes().decode()).encode())


def _save_val(base: Path, val: np.ndarray, fmt: str = "4") -> None:
    scipy.io.savemat(base.with_suffix(".mat"), {"val": val}, format=fmt)


def _val(base: Path) -> np.ndarray:
    return scipy.io.loadmat(base.with_suffix(".mat"))["val"]


# --------------------------------------------------------------------------------------------------------------
# Real samples


def test_reads_every_real_cinc2021_sample(real_samples: Path) -> None:
    headers = sorted((real_samples / "cinc2021").glob("*.hea"))
    assert len(headers) == NUM_CINC_SAMPLES
    for path in headers:
        header = read_header(path)
        record = load_record(path)
        raw = scipy.io.loadmat(path.with_suffix(".mat"))["val"]
        fields = _lead_fields(path.read_text())

        assert header.name == path.stem == record.name
        assert (header.fs, header.num_samples) == (500.0, 5000)
        assert header.leads == STANDARD_LEADS
        assert header.gains == (1000.0,) * 12 and header.baselines == (0,) * 12 and header.units == ("mV",) * 12
        assert header.sex in ("Male", "Female") and 0 < header.age < 120
        assert header.dx and record.dx == header.dx
        assert record.labels == header.labels == to_classes(header.dx)
        assert record.signal.dtype == np.float32 and record.signal.shape == (12, 5000)
        assert record.fs == 500.0 and (record.age, record.sex) == (header.age, header.sex)
        # The stored samples are the ones the header describes, and they come out in mV.
        assert [int(f[5]) for f in fields] == raw[:, 0].tolist()
        assert [int(f[6]) for f in fields] == [_checksum(row) for row in raw]
        np.testing.assert_allclose(record.signal, raw / 1000.0, atol=1e-6)
        assert 0.3 < np.abs(record.signal).max() < 20  # an ECG in mV, not in uV or V
        assert 0.02 < record.signal.std() < 2


@pytest.mark.parametrize(
    ("name", "age", "sex", "dx", "labels"),
    [
        ("E07500", 78, "Male", ("67741000119109", "426177001"), []),
        ("E07509", 71, "Male", ("59118001", "426177001"), ["RBBB"]),
        ("HR06000", 59, "Female", ("164934002", "426783006"), ["Normal"]),
        ("JS20003", 82, "Female", ("284470004", "427084000", "55827005", "164934002", "427172004"), ["PAC", "PVC"]),
    ],
)
def test_real_sample_metadata_and_snomed_labels(real_samples: Path, name: str, age: float, sex: str,
                                                dx: tuple[str, ...], labels: list[str]) -> None:
    record = load_record(real_samples / "cinc2021" / name)
    assert (record.age, record.sex, record.dx, record.labels) == (age, sex, dx, labels)


def test_reads_every_real_cpsc2018_sample(real_samples: Path) -> None:
    paths = sorted((real_samples / "cpsc2018").glob("A*.mat"))
    assert len(paths) == NUM_CPSC_SAMPLES
    for path in paths:
        signal, age, sex = load_cpsc2018(path)
        assert signal.dtype == np.float32 and signal.shape[0] == 12
        assert 6 * 500 <= signal.shape[1] <= 60 * 500  # CPSC 2018 recordings last 6-60 s at 500 Hz
        assert sex in ("Male", "Female") and 0 < age < 120
        assert 0.3 < np.abs(signal).max() < 20
    signal, age, sex = load_cpsc2018(real_samples / "cpsc2018" / "A1981.mat")
    assert (signal.shape, age, sex) == ((12, 7950), 48, "Female")


# --------------------------------------------------------------------------------------------------------------
# Variants of the format that must read the same


def test_record_path_may_name_the_header_the_mat_or_the_base(real_samples: Path) -> None:
    base = real_samples / "cinc2021" / "JS20000"
    reference = load_record(base)
    for path in (str(base) + ".hea", str(base) + ".mat"):
        np.testing.assert_array_equal(load_record(path).signal, reference.signal)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: t.replace("/mV", "/mv"), id="lower-case-mv"),
        pytest.param(lambda t: t.replace("# ", "#"), id="dx-without-space"),
        pytest.param(lambda t: t.replace("1000.0(0)/mV", "1.0(0)/uV"), id="microvolts"),
        pytest.param(lambda t: t.replace("1000.0(0)/mV", "1.0/µV"), id="micro-sign-no-baseline"),
        pytest.param(lambda t: t.replace("1000.0(0)/mV", "1000"), id="no-baseline-no-units"),
        pytest.param(lambda t: t.replace("E07500 12 500 5000", "E07500 12 500 5000 10:11:12 01/02/2020"),
                     id="date-and-time"),
        pytest.param(lambda t: t.replace(" 16x1+24 ", " 16 "), id="plain-format-16"),
        pytest.param(lambda t: t.replace(" aVR\n", " AVR\n").replace(" aVL\n", " avl\n"), id="lead-name-case"),
        pytest.param(lambda t: t + "\n\n", id="trailing-blank-lines"),
    ],
)
def test_header_variants_give_the_same_signal(copy_record: Callable[[str], Path], real_samples: Path,
                                              edit: Callable[[str], str]) -> None:
    base = copy_record("E07500")
    _edit_header(base, edit)
    record = load_record(base)
    original = load_record(real_samples / "cinc2021" / "E07500")
    np.testing.assert_allclose(record.signal, original.signal, atol=1e-6)
    assert (record.age, record.sex, record.dx) == (78, "Male", ("67741000119109", "426177001"))


def test_reordered_leads_come_out_in_standard_order(copy_record: Callable[[str], Path], real_samples: Path) -> None:
    base = copy_record("HR06003")
    order = np.random.default_rng(0).permutation(12)
    lines = base.with_suffix(".hea").read_text().splitlines()
    _edit_header(base, lambda t: "\n".join([lines[0], *[lines[1 + i] for i in order], *lines[13:]]))
    _save_val(base, _val(base)[order])
    assert read_header(base.with_suffix(".hea")).leads == tuple(STANDARD_LEADS[i] for i in order)
    np.testing.assert_array_equal(load_record(base).signal, load_record(real_samples / "cinc2021/HR06003").signal)


def test_gain_baseline_and_wfdb_defaults(copy_record: Callable[[str], Path], real_samples: Path) -> None:
    base = copy_record("E07501")
    original = load_record(real_samples / "cinc2021" / "E07501").signal
    lines = base.with_suffix(".hea").read_text().splitlines()
    lines[1] = lines[1].replace("1000.0(0)/mV", "500(100)/mV")  # lead I: baseline 100, 500 units per mV
    lines[2] = lines[2].replace("1000.0(0)/mV", "0/mV")  # lead II: gain 0 means WFDB's 200
    lines[3] = lines[3].replace("1000.0(0)/mV 16 0", "1000.0/mV 16 50")  # lead III: baseline = ADC zero
    _edit_header(base, lambda _: "\n".join(lines))
    signal = load_record(base).signal
    np.testing.assert_allclose(signal[0], (original[0] * 1000 - 100) / 500, atol=1e-5)
    np.testing.assert_allclose(signal[1], original[1] * 1000 / 200, atol=1e-5)
    np.testing.assert_allclose(signal[2], original[2] - 0.05, atol=1e-6)
    np.testing.assert_array_equal(signal[3:], original[3:])


@pytest.mark.parametrize(
    ("edit", "age", "sex"),
    [
        pytest.param(lambda t: t.replace("# Age: 78\n", "").replace("# Sex: Male\n", ""), None, None, id="missing"),
        pytest.param(lambda t: t.replace("Age: 78", "Age: NaN").replace("Sex: Male", "Sex: Unknown"), None, None,
                     id="nan-unknown"),
        pytest.param(lambda t: t.replace("Age: 78", "Age: 78.5").replace("Sex: Male", "Sex: F"), 78.5, "Female",
                     id="fractional-age-short-sex"),
    ],
)
def test_age_and_sex_are_optional(copy_record: Callable[[str], Path], edit: Callable[[str], str],
                                  age: float | None, sex: str | None) -> None:
    base = copy_record("E07500")
    _edit_header(base, edit)
    record = load_record(base)
    assert (record.age, record.sex) == (age, sex)


def test_dx_tokens_abbreviations_and_unknown_codes(copy_record: Callable[[str], Path]) -> None:
    base = copy_record("E07500")
    _edit_header(base, lambda t: t.replace("# Dx: 67741000119109,426177001", "#Dx: rbbb, 999999, STD,RBBB,"))
    record = load_record(base)
    assert record.dx == ("rbbb", "999999", "STD", "RBBB")
    assert record.labels == ["RBBB", "STD"]


def test_record_names_lists_every_mat_file(tmp_path: Path) -> None:
    for file in ("B2.mat", "A1.mat", "A1.hea", "C3.hea", "notes.txt", ".A1.mat.abc.tmp"):
        (tmp_path / file).write_bytes(b"")
    (tmp_path / "D4.mat").mkdir()
    assert record_names(tmp_path) == ["A1", "B2"]
    with pytest.raises(RecordError, match="nowhere"):
        record_names(tmp_path / "nowhere")


# --------------------------------------------------------------------------------------------------------------
# Writing


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    # Independent noise per lead: the limb leads III, aVR, aVL, aVF are not derivable from I and II, so only
    # storing every lead as given (not recomputing or reordering any) reads back within rounding.
    rng = np.random.default_rng(1)
    signal = rng.normal(0, 0.5, size=(12, 1500)) + np.arange(12)[:, None] * 0.1
    write_record(tmp_path, "A0001", signal, fs=500, age=74.4, sex="Male", labels=["RBBB", "STD"])

    record = load_record(tmp_path / "A0001")
    assert record.signal.shape == (12, 1500)
    for lead in range(12):
        assert np.abs(record.signal[lead] - signal[lead]).max() <= 0.0005 + 1e-6, STANDARD_LEADS[lead]
    assert (record.fs, record.age, record.sex, record.labels, record.dx) == (
        500.0, 74, "Male", ["RBBB", "STD"], ("RBBB", "STD"))

    text = (tmp_path / "A0001.hea").read_text()
    raw = scipy.io.loadmat(tmp_path / "A0001.mat")["val"]
    assert raw.dtype == np.int16
    assert text.splitlines()[0] == "A0001 12 500 1500"
    for lead, fields, row in zip(STANDARD_LEADS, _lead_fields(text), raw):
        assert fields[:5] == ["A0001.mat", "16+24", "1000/mV", "16", "0"]
        assert int(fields[5]) == row[0] and int(fields[6]) == _checksum(row)
        assert fields[7:] == ["0", lead]
    assert text.splitlines()[13:] == ["#Age: 74", "#Sex: Male", "#Dx: RBBB,STD", "#Rx: Unknown", "#Hx: Unknown",
                                      "#Sx: Unknown"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A0001.hea", "A0001.mat"]


def test_write_checksum_wraps_to_16_bits_and_values_clip(tmp_path: Path) -> None:
    signal = np.full((12, 100), 30.0)  # 100 x 30000 overflows 16 bits
    signal[0, 0] = 50.0  # beyond int16 at 1000/mV
    signal[1, 0] = -50.0
    write_record(tmp_path, "HR06000", signal)
    fields = _lead_fields((tmp_path / "HR06000.hea").read_text())
    assert fields[0][5] == "32767" and fields[1][5] == "-32767"
    assert int(fields[2][6]) == _checksum(np.full(100, 30000))
    record = load_record(tmp_path / "HR06000")
    assert record.signal[0, 0] == pytest.approx(32.767) and record.signal[1, 0] == pytest.approx(-32.767)
    assert (record.age, record.sex, record.labels) == (None, None, [])
    assert "#Age: NaN" in (tmp_path / "HR06000.hea").read_text()


def test_write_is_atomic_when_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(records.scipy.io, "savemat", killed)
    with pytest.raises(KeyboardInterrupt):
        write_record(tmp_path, "E07500", np.zeros((12, 10)))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "signal", "kwargs"),
    [
        pytest.param("../x", np.zeros((12, 10)), {}, id="unsafe-name"),
        pytest.param("A1", np.zeros((11, 10)), {}, id="eleven-leads"),
        pytest.param("A1", np.zeros((12, 0)), {}, id="zero-samples"),
        pytest.param("A1", np.full((12, 10), np.nan), {}, id="nan"),
        pytest.param("A1", np.zeros((12, 10)), {"fs": 0}, id="zero-fs"),
        pytest.param("A1", np.zeros((12, 10)), {"sex": "M"}, id="bad-sex"),
        pytest.param("A1", np.zeros((12, 10)), {"labels": ["A,B"]}, id="comma-in-label"),
    ],
)
def test_write_rejects_what_it_could_not_read_back(tmp_path: Path, name: str, signal: np.ndarray,
                                                   kwargs: dict) -> None:
    with pytest.raises(RecordError):
        write_record(tmp_path, name, signal, **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["A0001", "HR06000", "E07500", "JS20000", "a_b-c.1"])
def test_check_record_name_accepts_plain_names(name: str) -> None:
    assert check_record_name(name) == name


@pytest.mark.parametrize("name", ["../x", "..", "a/b", "a\\b", "/x", ".x", "", "-x", "a b", "a\nb", "x" * 200,
                                  "ä"])
def test_check_record_name_rejects_names_that_could_escape(name: str) -> None:
    with pytest.raises(RecordError, match="some/dir"):
        check_record_name(name, "some/dir")


# --------------------------------------------------------------------------------------------------------------
# Bad input: one test per kind, each must raise RecordError naming the file


def _remove_header(base: Path) -> Path:
    base.with_suffix(".hea").unlink()
    return base.with_suffix(".hea")


def _remove_mat(base: Path) -> Path:
    base.with_suffix(".mat").unlink()
    return base.with_suffix(".mat")


def _truncate_mat(base: Path) -> Path:
    path = base.with_suffix(".mat")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _garbage_mat(base: Path) -> Path:
    path = base.with_suffix(".mat")
    path.write_bytes(np.random.default_rng(2).bytes(4096))
    return path


def _empty_mat(base: Path) -> Path:
    path = base.with_suffix(".mat")
    path.write_bytes(b"")
    return path


def _mat_without_val(base: Path) -> Path:
    scipy.io.savemat(base.with_suffix(".mat"), {"data": _val(base)}, format="4")
    return base.with_suffix(".mat")


def _val_3d(base: Path) -> Path:
    val = _val(base)
    _save_val(base, np.stack([val, val], axis=2), fmt="5")
    return base.with_suffix(".mat")


def _val_text(base: Path) -> Path:
    _save_val(base, np.array(["not a signal"]), fmt="5")
    return base.with_suffix(".mat")


def _lead_count_mismatch(base: Path) -> Path:
    _save_val(base, _val(base)[:11])
    return base.with_suffix(".mat")


def _sample_count_mismatch(base: Path) -> Path:
    _save_val(base, _val(base)[:, :4999])
    return base.with_suffix(".mat")


def _zero_samples(base: Path) -> Path:
    _edit_header(base, lambda t: t.replace("12 500 5000", "12 500 0"))
    _save_val(base, np.zeros((12, 0), dtype=np.int16))
    return base.with_suffix(".hea")


def _nan_samples(base: Path) -> Path:
    val = _val(base).astype(np.float64)
    val[3, 100] = np.nan
    _save_val(base, val)
    return base.with_suffix(".mat")


def _inf_samples(base: Path) -> Path:
    val = _val(base).astype(np.float64)
    val[7, 4999] = -np.inf
    _save_val(base, val)
    return base.with_suffix(".mat")


def _header_edit(old: str, new: str) -> Callable[[Path], Path]:
    def damage(base: Path) -> Path:
        _edit_header(base, lambda t: t.replace(old, new, 1))
        return base.with_suffix(".hea")

    return damage


def _drop_lead(base: Path) -> Path:
    lines = base.with_suffix(".hea").read_text().splitlines()
    _edit_header(base, lambda _: "\n".join([lines[0].replace(" 12 ", " 11 "), *lines[1:12], *lines[13:]]))
    _save_val(base, _val(base)[:11])
    return base.with_suffix(".hea")


def _empty_header(base: Path) -> Path:
    base.with_suffix(".hea").write_bytes(b"")
    return base.with_suffix(".hea")


def _random_bytes_header(base: Path) -> Path:
    base.with_suffix(".hea").write_bytes(np.random.default_rng(3).bytes(700))
    return base.with_suffix(".hea")


BAD_INPUTS: dict[str, Callable[[Path], Path]] = {
    "missing-hea": _remove_header,
    "missing-mat": _remove_mat,
    "truncated-mat": _truncate_mat,
    "garbage-mat": _garbage_mat,
    "empty-mat": _empty_mat,
    "mat-without-val": _mat_without_val,
    "val-not-2d": _val_3d,
    "val-not-numeric": _val_text,
    "lead-count-mismatch": _lead_count_mismatch,
    "sample-count-mismatch": _sample_count_mismatch,
    "zero-samples": _zero_samples,
    "nan-samples": _nan_samples,
    "inf-samples": _inf_samples,
    "unknown-lead": _header_edit(" V6\n", " V7\n"),
    "duplicate-lead": _header_edit(" II\n", " I\n"),
    "missing-standard-lead": _drop_lead,
    "zero-fs": _header_edit("12 500 5000", "12 0 5000"),
    "negative-fs": _header_edit("12 500 5000", "12 -500 5000"),
    "absurd-fs": _header_edit("12 500 5000", "12 5e9 5000"),
    "nan-fs": _header_edit("12 500 5000", "12 nan 5000"),
    "lead-count-not-integer": _header_edit("12 500 5000", "twelve 500 5000"),
    "samples-not-integer": _header_edit("12 500 5000", "12 500 5000.5"),
    "record-line-too-short": _header_edit("12 500 5000", "12"),
    "header-lead-lines-missing": _header_edit("12 500 5000", "13 500 5000"),
    "gain-not-a-number": _header_edit("1000.0(0)/mV", "abc(0)/mV"),
    "baseline-not-integer": _header_edit("1000.0(0)/mV", "1000.0(x)/mV"),
    "unknown-units": _header_edit("1000.0(0)/mV", "1000.0(0)/mmHg"),
    "lead-line-too-short": _header_edit(" 0 -58 -5598 0 II", " II"),
    "checksum-not-integer": _header_edit("-5598", "0x15"),
    "format-not-wfdb": _header_edit("16x1+24", "sixteen"),
    "empty-header": _empty_header,
    "random-bytes-header": _random_bytes_header,
}


@pytest.mark.parametrize("damage", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_raises_record_error_naming_the_file(copy_record: Callable[[str], Path],
                                                       damage: Callable[[Path], Path]) -> None:
    base = copy_record("E07500")
    culprit = damage(base)
    with pytest.raises(RecordError) as caught:
        load_record(base)
    message = str(caught.value)
    assert str(culprit) in message
    assert "\n" not in message and len(message) > len(str(culprit)) + 5


def test_record_error_is_a_value_error_with_one_line() -> None:
    error = RecordError("x.hea: bad\nthing\r\nhere")
    assert isinstance(error, ValueError) and str(error) == "x.hea: bad thing here"


# --------------------------------------------------------------------------------------------------------------
# Property: a mutated real header either parses or raises RecordError, nothing else


@pytest.fixture(scope="module")
def header_texts(real_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Real headers of each source (E, HR, JS) plus one written by write_record."""
    folder = tmp_path_factory.mktemp("written")
    write_record(folder, "A0001", np.zeros((12, 50)), age=74, sex="Male", labels=["RBBB"])
    paths = [real_samples / "cinc2021" / f"{name}.hea" for name in ("E07500", "HR06000", "JS20003")]
    return [p.read_text() for p in paths] + [(folder / "A0001.hea").read_text()]


_MUTATIONS = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("duplicate"), st.integers(0, 40)),
    st.tuples(st.just("swap"), st.integers(0, 40), st.integers(0, 40)),
    st.tuples(st.just("token"), st.integers(0, 40), st.integers(0, 12),
              st.one_of(st.text(max_size=12), st.sampled_from(
                  ["", "nan", "inf", "-1", "0", "1e400", "9" * 5000, "()", "(/", "/", "1000(0", "AVR", "v6", "#"]))),
    st.tuples(st.just("truncate"), st.integers(0, 2000)),
    st.tuples(st.just("bytes"), st.integers(0, 2000), st.binary(max_size=40)),
)


def _mutate(text: str, mutation: tuple) -> str:
    lines = text.splitlines()
    kind, *args = mutation
    if kind == "truncate":
        return text[: args[0]]
    if kind == "bytes":
        at = min(args[0], len(text))
        return text[:at] + args[1].decode("latin-1") + text[at:]
    if not lines:
        return text
    i = args[0] % len(lines)
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "swap":
        j = args[1] % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    else:
        tokens = lines[i].split(" ")
        tokens[args[1] % len(tokens)] = args[2]
        lines[i] = " ".join(tokens)
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), mutations=st.lists(_MUTATIONS, min_size=1, max_size=4))
def test_mutated_headers_parse_or_raise_record_error(header_texts: list[str], data: st.DataObject,
                                                     mutations: list[tuple]) -> None:
    text = data.draw(st.sampled_from(header_texts))
    for mutation in mutations:
        text = _mutate(text, mutation)
    try:
        header = parse_header(text, "mutated.hea")
    except RecordError as error:
        assert str(error).startswith("mutated.hea: ") and "\n" not in str(error)
        return
    assert isinstance(header, Header)
    assert sorted(header.leads) == sorted(STANDARD_LEADS)
    assert records.MIN_FS <= header.fs <= records.MAX_FS and header.num_samples >= 1
    assert all(np.isfinite(g) and g != 0 for g in header.gains)
    assert header.labels == to_classes(header.dx)


# --------------------------------------------------------------------------------------------------------------
# CPSC 2018 originals and REFERENCE.csv


def test_load_cpsc2018_rejects_bad_files(tmp_path: Path) -> None:
    cases = {
        "garbage.mat": None,
        "no_ecg.mat": {"val": np.zeros((12, 10))},
        "wrong_shape.mat": {"ECG": {"sex": "Male", "age": 50, "data": np.zeros((8, 10))}},
        "nan.mat": {"ECG": {"sex": "Male", "age": 50, "data": np.full((12, 10), np.nan)}},
    }
    for name, contents in cases.items():
        path = tmp_path / name
        if contents is None:
            path.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(300))
        else:
            scipy.io.savemat(path, contents)
        with pytest.raises(RecordError, match=name):
            load_cpsc2018(path)
    with pytest.raises(RecordError, match="missing"):
        load_cpsc2018(tmp_path / "absent.mat")


def test_load_cpsc2018_without_age_or_sex(tmp_path: Path) -> None:
    path = tmp_path / "A0001.mat"
    scipy.io.savemat(path, {"ECG": {"sex": "", "age": np.array([]), "data": np.ones((12, 20))}})
    signal, age, sex = load_cpsc2018(path)
    assert (signal.shape, age, sex) == ((12, 20), None, None)


def test_read_cpsc_reference_numbers_blank_cells_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "REFERENCE.csv"
    path.write_bytes("\ufeffRecording,First_label,Second_label,Third_label\r\n"
                     "A0001,1,,\r\nA0002,5,8,\r\nA0003,9,2,3\r\nA0004,6,6\r\n\r\n".encode())
    assert read_cpsc_reference(path) == {
        "A0001": ["Normal"], "A0002": ["RBBB", "STD"], "A0003": ["STE", "AF", "I-AVB"], "A0004": ["PAC"]}


@pytest.mark.parametrize(
    "body",
    ["A0001,10,,\n", "A0001,x,,\n", "A0001,1,,\nA0001,2,,\n", "../A0001,1,,\n"],
    ids=["class-out-of-range", "not-a-number", "listed-twice", "unsafe-name"],
)
def test_read_cpsc_reference_rejects_bad_rows(tmp_path: Path, body: str) -> None:
    path = tmp_path / "REFERENCE.csv"
    path.write_text("Recording,First_label,Second_label,Third_label\n" + body)
    with pytest.raises(RecordError, match="REFERENCE.csv line"):
        read_cpsc_reference(path)
