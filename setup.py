"""Package metadata is read from settings.ini (nbdev 2 layout), so it is written in one place."""
from configparser import ConfigParser
from pathlib import Path
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read(Path(__file__).parent / 'settings.ini', encoding='utf-8')
c = cfg['DEFAULT']

setuptools.setup(
    name=c['lib_name'],
    version=c['version'],
    description=c['description'],
    long_description=(Path(__file__).parent / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    author=c['author'], author_email=c['author_email'],
    license='Apache-2.0',
    url=c['git_url'],
    keywords=c['keywords'].split(),
    python_requires='>=' + c['min_python'],
    packages=setuptools.find_packages(include=[c['lib_path'], c['lib_path'] + '.*']),
    package_data={c['lib_path']: ['data/*', 'data/**/*']},
    include_package_data=True,
    install_requires=c['requirements'].split(),
    extras_require={'dev': c['dev_requirements'].split() + c['ray_requirements'].split(),   # [dev] includes Ray
                    'ray': c['ray_requirements'].split()},
    entry_points={'console_scripts': c['console_scripts'].split(),
                  'nbdev': [f"{c['lib_path']}={c['lib_path']}._modidx:d"]},
    zip_safe=False,
)
