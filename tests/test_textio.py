"""One encoding decision for every importer: BOMs, UTF-8, GBK (as GB18030), binary refused."""
import pytest

from studio.core import textio
from studio.core.errors import InputError

TEXT = "雷雨天气，需要巡视室外高压设备时，应穿绝缘靴。"


@pytest.mark.parametrize("data, encoding", [
    (TEXT.encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
    (TEXT.encode("gbk"), "gb18030"),
    (TEXT.encode("utf-16"), "utf-16"),
])
def test_decode(data, encoding):
    assert textio.decode(data, "x.txt") == (TEXT, encoding)


def test_a_head_cut_inside_a_character_is_still_utf8():
    data = ("第一行\n" * (textio.SNIFF_BYTES // 10) + TEXT).encode("utf-8")
    assert textio.detect(data[:textio.SNIFF_BYTES], "big.csv") == "utf-8"


def test_binary_is_refused_naming_the_file():
    with pytest.raises(InputError, match=r"x\.bin: a binary file"):
        textio.decode(b"PK\x03\x04\x00\x00garbage", "x.bin")


def test_gbk_pair_file_imports(tmp_path, studio_env):
    from studio.data import pairs

    f = tmp_path / "gbk.json"
    f.write_bytes(('[{"instruction": "' + TEXT + '", "input": "", "output": "绝缘靴"}]').encode("gbk"))
    assert pairs.import_pairs(f, "gbk")["imported"] == 1
