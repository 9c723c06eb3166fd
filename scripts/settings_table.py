"""Print the README's settings table from settings.SETTINGS (paste it into README.md when settings change)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import settings  # noqa: E402

print("| setting | default | meaning |")
print("|---|---|---|")
for s in settings.SETTINGS:
    meaning = s.help.replace("|", "\\|") + (" (secret)" if s.secret else "")
    print(f"| `{s.name}` | `{s.default}` | {meaning} |")
