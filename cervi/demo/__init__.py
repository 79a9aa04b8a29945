"""Helpers for ``cervi demo``, the tests and the benchmarks, apart from the service core: an
Orthanc process as the PACS (:mod:`cervi.demo.orthanc`) and a static server for the OHIF viewer
(:mod:`cervi.demo.viewer`). ``cervi serve`` never imports them."""
