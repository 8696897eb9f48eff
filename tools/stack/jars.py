"""The official Apache jars of a service, fetched once with ``mvn`` into a shared cache.

``ensure_lib(spec)`` resolves the artifacts of ``spec`` (and their runtime
dependencies) from Maven Central into ``<cache>/<kind>-<version>``; a folder is used
only once a ``.complete`` marker says every jar arrived (an interrupted fetch is redone).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tools.stack.spec import DEPENDENCY_PLUGIN, LOG_TAIL_LINES, ServiceError, Spec, say


def _pom(spec: Spec) -> str:
    deps = "\n".join(
        "    <dependency><groupId>{}</groupId><artifactId>{}</artifactId>"
        "<version>{}</version></dependency>".format(*coord.split(":"))
        for coord in spec.artifacts
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.vitals.services</groupId>
  <artifactId>{spec.name}-libs</artifactId>
  <version>{spec.version}</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def ensure_lib(spec: Spec) -> Path:
    """Return the jar folder of ``spec``, fetching it with mvn unless already complete."""
    lib = spec.lib_dir
    marker = lib / ".complete"
    if marker.is_file():
        return lib
    if not shutil.which("mvn"):
        raise ServiceError(f"{spec.name}: jars not cached in {lib} and mvn is not installed")
    partial = lib.with_name(lib.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    pom = partial / "pom.xml"
    pom.write_text(_pom(spec))
    say(f"{spec.name}: fetching {', '.join(spec.artifacts)} with mvn (first run only) ...")
    started = time.monotonic()
    cmd = ["mvn", "-q", "-B", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies"]
    cmd += [f"-DoutputDirectory={partial}", "-DincludeScope=runtime"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    jars = sorted(partial.glob("*.jar"))
    if result.returncode != 0 or not jars:
        output = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
        raise ServiceError(f"{spec.name}: mvn failed (exit {result.returncode}):\n{output}")
    size = sum(j.stat().st_size for j in jars) / 1e6
    (partial / ".complete").write_text(f"{len(jars)} jars\n")
    shutil.rmtree(lib, ignore_errors=True)
    partial.rename(lib)
    say(f"{spec.name}: {len(jars)} jars ({size:.0f} MB) in {time.monotonic() - started:.1f} s")
    return lib
