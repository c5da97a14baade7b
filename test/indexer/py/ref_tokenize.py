"""Reference token ids from open_clip's own SimpleTokenizer, for the TypeScript parity test.

stdin: {"vocab": PATH, "contextLength": C, "texts": [...]}; stdout: {"ids": [[...], ...]}.
open_clip's tokenizer module is loaded on its own (it needs only ftfy, regex, numpy and torch),
so this does not depend on `import open_clip` (and torchvision) working.
"""
import importlib.util
import json
import os
import sys

import regex  # noqa: F401  (fail early with a clear ImportError)

spec = importlib.util.find_spec("open_clip")
if spec is None or not spec.submodule_search_locations:
    sys.exit("open_clip is not installed in this Python")
path = os.path.join(list(spec.submodule_search_locations)[0], "tokenizer.py")
mod_spec = importlib.util.spec_from_file_location("open_clip_tokenizer_standalone", path)
tok_mod = importlib.util.module_from_spec(mod_spec)
mod_spec.loader.exec_module(tok_mod)

req = json.load(sys.stdin)
tok = tok_mod.SimpleTokenizer(bpe_path=req["vocab"], context_length=req["contextLength"])
out = tok(req["texts"]).tolist() if req["texts"] else []
json.dump({"ids": out}, sys.stdout)
