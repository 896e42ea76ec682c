"""The storage settings: read from ``OPENCORTEX_*`` variables, and refused in one line when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from opencortex.cli.main import cli
from opencortex.settings import S3Location, Settings, parse_storage_url

S3 = {"OPENCORTEX_STORAGE_URL": "s3://exports-bucket/prod/opencortex"}


def test_the_environment_sets_every_storage_setting() -> None:
    settings = Settings.from_env({
        **S3, "OPENCORTEX_S3_ENDPOINT_URL": "http://minio:9000", "OPENCORTEX_S3_REGION": "eu-west-1",
        "OPENCORTEX_S3_ACCESS_KEY_ID": "AKIAEXAMPLE", "OPENCORTEX_S3_SECRET_ACCESS_KEY": "secret/key+example",
        "OPENCORTEX_S3_PART_SIZE": str(16 * 1024 * 1024),
    })
    assert (settings.storage_url, settings.s3_endpoint_url, settings.s3_region) == (
        "s3://exports-bucket/prod/opencortex", "http://minio:9000", "eu-west-1")
    assert (settings.s3_access_key_id, settings.s3_secret_access_key) == ("AKIAEXAMPLE", "secret/key+example")
    assert settings.s3_part_size == 16 * 1024 * 1024
    assert "secret/key+example" not in repr(settings)


def test_the_default_is_the_data_folder() -> None:
    settings = Settings.from_env({})
    assert settings.storage_url == "" and settings.s3_part_size == 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("s3://bucket", S3Location("bucket", "")),
        ("s3://bucket/", S3Location("bucket", "")),
        ("s3://my.bucket-1/a/b_c/", S3Location("my.bucket-1", "a/b_c/")),
        ("s3://bucket/prefix", S3Location("bucket", "prefix/")),
    ],
)
def test_storage_urls(url: str, location: S3Location) -> None:
    assert parse_storage_url(url) == location
    assert str(location) == f"s3://{location.bucket}/{location.prefix}"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"OPENCORTEX_STORAGE_URL": "/srv/files"},
         "OPENCORTEX_STORAGE_URL must be empty (the data folder) or s3://bucket[/prefix]; got '/srv/files'"),
        ({"OPENCORTEX_STORAGE_URL": "gs://bucket"}, "got gs://..."),
        ({"OPENCORTEX_STORAGE_URL": "s3://"}, "'' is not a bucket name"),
        ({"OPENCORTEX_STORAGE_URL": "s3://Bucket"}, "'Bucket' is not a bucket name"),
        ({"OPENCORTEX_STORAGE_URL": "s3://a..b"}, "'a..b' is not a bucket name"),
        ({"OPENCORTEX_STORAGE_URL": "s3://bucket/../up"}, "the prefix '../up' must be folder names"),
        ({"OPENCORTEX_STORAGE_URL": "s3://bucket/a//b"}, "the prefix 'a//b' must be folder names"),
        ({"OPENCORTEX_STORAGE_URL": "s3://bucket/.hidden"}, "the prefix '.hidden' must be folder names"),
        ({**S3, "OPENCORTEX_S3_ENDPOINT_URL": "minio:9000"}, "OPENCORTEX_S3_ENDPOINT_URL must be an http(s) URL"),
        ({**S3, "OPENCORTEX_S3_ENDPOINT_URL": "http://user:pw@minio:9000"}, "may not hold credentials"),
        ({**S3, "OPENCORTEX_S3_ENDPOINT_URL": "http://minio:port"}, "OPENCORTEX_S3_ENDPOINT_URL must be an http(s)"),
        ({**S3, "OPENCORTEX_S3_ACCESS_KEY_ID": "AKIA"}, "go together: set both, or neither"),
        ({**S3, "OPENCORTEX_S3_SECRET_ACCESS_KEY": "secret"}, "go together: set both, or neither"),
        ({**S3, "OPENCORTEX_S3_PART_SIZE": "1048576"}, "OPENCORTEX_S3_PART_SIZE must be between 5242880"),
        ({**S3, "OPENCORTEX_S3_PART_SIZE": "8MiB"}, "OPENCORTEX_S3_PART_SIZE must be an integer, got '8MiB'"),
        ({"OPENCORTEX_S3_ENDPOINT_URL": "http://minio:9000"},
         "OPENCORTEX_S3_ENDPOINT_URL is set, but OPENCORTEX_STORAGE_URL is not"),
        ({"OPENCORTEX_S3_PART_SIZE": "16777216"}, "OPENCORTEX_S3_PART_SIZE is set, but OPENCORTEX_STORAGE_URL is not"),
    ],
)
def test_invalid_storage_settings_are_refused_in_one_line(environment: dict[str, str], message: str,
                                                          tmp_path: Path) -> None:
    with pytest.raises(ValueError) as raised:
        Settings.from_env(environment)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert "pw@" not in str(raised.value)
    # And so every command stops before it does anything, with that line.
    result = CliRunner().invoke(cli, ["init"], env={**environment, "OPENCORTEX_DATA_DIR": str(tmp_path / "var")})
    assert result.exit_code == 1 and result.output == f"Error: {raised.value}\n"
    assert not (tmp_path / "var").exists()
