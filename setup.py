"""The one compiled part: tarbatch's header chain in C (layers/_tarchain.c).
`optional`: where it cannot be compiled, the install goes on and layerscope
uses the same function in Python."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("layerscope.layers._tarchain", ["layerscope/layers/_tarchain.c"], optional=True)])
