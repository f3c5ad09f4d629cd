#!/usr/bin/env python3
"""scripts/check-layout on small temporary trees: a clean one passes, each planted violation
fails with its file:line and reason, and the picture in a document is checked and rewritten.

    python3 tests/scripts/test_check_layout.py scripts/check-layout
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SCRIPT = None  # set from argv

CLEAN = {
    "common/buf.h": '#include <stddef.h>\n#include "err.h"\n',
    "common/err.h": "",
    "journal/journal.h": '#include "common/buf.h"\n#include "twinpipe/telemetry/v1/t.pb-c.h"\n',
    "journal/producer.c": '#include <librdkafka/rdkafka.h>\n#include "journal.h"\n',
    "token/auth.c": '#include "common/err.h"\n',
    "mqtt/codec.c": '#include "common/err.h"\n',
    "schema/fdset.h": '#include "common/err.h"\n#include "google/protobuf/descriptor.pb-c.h"\n',
    "schema/telemetry.c": '#include "journal/journal.h"\n#include "../schema/fdset.h"\n',
    "twin/fold.c": '#include "journal/journal.h"\n',
    "ingest/ingest.c": '#include "token/auth.h"\n#include "schema/fdset.h"\n#include "api.h"\n',
    "query/api.c": '#include "twin/fold.h"\n#include "token/token.h"\n',
    "loadgen/load.c": '#include "token/auth.h"\n#include "journal/journal.h"\n',
    "registry/compat.c": '#include "schema/fdset.h"\n',
    "tests/ingest/test_auth.c": '#include "ingest/ingest.h"\n#include "tests/support/x.h"\n'
                                '#include <librdkafka/rdkafka.h>\n',
    "bench/flush.c": '#include "projector/store.h"\n',
    "build/asan/gen/x.c": '#include "nowhere/x.h"\n',  # the build tree is not scanned
    "docs/arch.md": "# picture\n\n<!-- check-layout --graph: begin (generated, do not edit) -->\n"
                    "old\n<!-- check-layout --graph: end -->\n\nafter\n",
}


class CheckLayout(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="check-layout-")
        for path, text in CLEAN.items():
            self.write(path, text)

    def tearDown(self):
        shutil.rmtree(self.root)

    def write(self, path, text):
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)

    def run_script(self, *args):
        p = subprocess.run([sys.executable, SCRIPT, "--root", self.root, *args],
                           capture_output=True, text=True)
        return p.returncode, p.stdout.splitlines()

    def plant(self, path, text):
        """The clean tree plus one file: the script's exit status and violation lines."""
        self.write(path, text)
        rc, out = self.run_script()
        return rc, [line for line in out if not line.startswith("check-layout:")]

    def test_clean_tree_passes(self):
        rc, out = self.run_script()
        self.assertEqual(out, ["check-layout: 22 folders, 16 include arrows, all allowed"])
        self.assertEqual(rc, 0)

    def test_service_includes_service(self):
        rc, out = self.plant("loadgen/verify.c", '#include "common/err.h"\n\n#include "ingest/auth.h"\n')
        self.assertEqual(rc, 1)
        self.assertEqual(out, ['loadgen/verify.c:3: service loadgen/ includes "ingest/auth.h" of '
                               'service ingest/: move the shared piece into a library'])

    def test_library_includes_service(self):
        rc, out = self.plant("schema/strict.c", '#include "ingest/validate.h"\n')
        self.assertEqual(rc, 1)
        self.assertEqual(out, ['schema/strict.c:1: library schema/ includes "ingest/validate.h" '
                               'of service ingest/'])

    def test_common_includes_the_tree(self):
        rc, out = self.plant("common/log.c", '#include "log.h"\n#include "journal/journal.h"\n')
        self.assertEqual(rc, 1)
        self.assertEqual(out, ['common/log.c:2: library common/ includes "journal/journal.h" of '
                               'library journal/; it may include nothing of the tree (table in '
                               'scripts/check-layout)'])

    def test_library_outside_its_row(self):
        rc, out = self.plant("journal/event.c", '#include "twin/fold.h"\n')
        self.assertEqual(rc, 1)
        self.assertEqual(out, ['journal/event.c:1: library journal/ includes "twin/fold.h" of '
                               'library twin/; it may include common, schemas (table in '
                               'scripts/check-layout)'])

    def test_rdkafka_outside_journal(self):
        rc, out = self.plant("ingest/main.c", '#include <stdio.h>\n#  include <librdkafka/rdkafka.h>\n')
        self.assertEqual(rc, 1)
        self.assertEqual(out, ["ingest/main.c:2: ingest/ includes librdkafka "
                               "(librdkafka/rdkafka.h): only journal/ talks to Kafka"])

    def test_relative_include_into_another_service(self):
        rc, out = self.plant("query/token.c", '#include "../ingest/ingest.h"\n')
        self.assertEqual(rc, 1)
        self.assertEqual(out, ['query/token.c:1: service query/ includes "../ingest/ingest.h" of '
                               'service ingest/: move the shared piece into a library'])

    def test_unknown_folders(self):
        rc, out = self.plant("gateway/main.c", '#include "common/err.h"\n')
        self.assertEqual(rc, 1)
        self.assertEqual(out, ["gateway/main.c: folder gateway/ is in no row of the table in "
                               "scripts/check-layout: say whether it is a library or a service"])
        os.remove(os.path.join(self.root, "gateway/main.c"))
        rc, out = self.plant("ingest/x.c", '#include "vendor/lib.h"\n')
        self.assertEqual(rc, 1)
        self.assertEqual(out, ['ingest/x.c:1: ingest/ includes "vendor/lib.h": folder vendor/ is '
                               "in no row of the table in scripts/check-layout"])

    def test_every_violation_reported(self):
        self.write("common/a.c", '#include "token/auth.h"\n')
        self.write("rollup/b.c", '#include "projector/store.h"\n#include "rdkafka.h"\n')
        rc, out = self.run_script()
        self.assertEqual(rc, 1)
        self.assertEqual(out, [
            'common/a.c:1: library common/ includes "token/auth.h" of library token/; it may '
            "include nothing of the tree (table in scripts/check-layout)",
            'rollup/b.c:1: service rollup/ includes "projector/store.h" of service projector/: '
            "move the shared piece into a library",
            "rollup/b.c:2: rollup/ includes librdkafka (rdkafka.h): only journal/ talks to Kafka",
        ])

    def test_picture_and_document(self):
        doc = os.path.join(self.root, "docs/arch.md")
        rc, out = self.run_script("--check-doc", doc)
        self.assertEqual(rc, 1)
        self.assertEqual(out, [f"{doc}: the picture is not the tree's any more: run "
                               f"scripts/check-layout --update-doc {doc}"])
        rc, _ = self.run_script("--update-doc", doc)
        self.assertEqual(rc, 0)
        rc, out = self.run_script("--check-doc", doc)
        self.assertEqual(rc, 0)
        with open(doc) as f:
            text = f.read()
        self.assertTrue(text.startswith("# picture\n\n<!-- check-layout --graph: begin"))
        self.assertTrue(text.endswith("<!-- check-layout --graph: end -->\n\nafter\n"))
        rc, graph = self.run_script("--graph")
        self.assertEqual(rc, 0)
        self.assertIn("\n".join(graph), text)
        header = graph[2].split()
        self.assertEqual(header, ["common", "schemas", "journal", "token", "mqtt", "schema", "twin",
                                  "policy", "aggregate", "policyfeed"])
        rows = {line.split()[0]: line for line in graph if line.startswith("  ")}
        # loadgen includes journal and token; may include the other libraries
        cells = rows["loadgen"].split()[2:]
        self.assertEqual(cells, [".", ".", "x", "x", ".", ".", ".", ".", ".", "."])
        # token, mqtt and policy may include only common (x: included); common nothing
        self.assertEqual(rows["token"].split()[2:], ["x"])
        self.assertEqual(rows["mqtt"].split()[2:], ["x"])
        self.assertEqual(rows["policy"].split()[2:], ["."])  # no policy/ file in this tree
        self.assertEqual(rows["common"].split()[2:], [])
        # a new arrow makes the document stale
        self.write("loadgen/verify.c", '#include "twin/fold.h"\n')
        rc, out = self.run_script("--check-doc", doc)
        self.assertEqual(rc, 1)
        rc, dot = self.run_script("--graph", "dot")
        self.assertIn('  "loadgen" -> "twin";', dot)
        self.assertIn('  "ingest" [shape=box, label="ingest/\\ntp-ingest"];', dot)


if __name__ == "__main__":
    SCRIPT = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
