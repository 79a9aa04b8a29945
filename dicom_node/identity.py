"""Cervi's own identity strings, defined once.

``MANUFACTURER`` is what Cervi writes into every object it makes (SR, key image, device
observer); study assembly reads it back to recognise Cervi's own output returning from the PACS
and never analyse it again, so the writer and the reader must use this one constant.
"""

from __future__ import annotations

#: Manufacturer (0008,0070) of every object Cervi makes, and its coding scheme's organisation.
MANUFACTURER = "Cervi"
#: The default called AE title of the listener and calling AE title of the sender.
AE_TITLE = "CERVI"
#: The name of the private coding scheme (``99CERVI``) in CodingSchemeIdentificationSequence.
CODING_SCHEME_NAME = "Cervi private codes"
