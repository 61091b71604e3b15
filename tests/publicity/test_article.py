"""The official-account (公众号) article as the WeChat editor takes it: a body without its
title (that goes in the editor's title field), inline styles only, no script, no class, no
image from elsewhere, the 来源/编辑/审核 footer from settings; and the package for the
department's own upload."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

from services.publicity.rendering import RenderSettings, render
from tests.publicity.test_rendering import RS, all_views, parsed


def test_the_article_body_is_ready_to_paste_into_the_wechat_editor() -> None:
    view = all_views()["official_account"]
    html = render(view, "html", RS).content
    assert isinstance(html, str)
    page = parsed(html)
    for tag in ("h1", "style", "script", "link", "html", "body"):
        assert tag not in page.tags
    names = {name for name, _ in page.attrs}
    assert "class" not in names
    assert not any(name.startswith("on") for name in names)
    for name, value in page.attrs:
        if name in ("src", "href"):
            assert value is not None
            assert not value.startswith(("http:", "https:", "//")), "an image from elsewhere"
    text = "".join(page.text)
    assert view.title not in text  # WeChat's own title field holds it
    assert "来源：后勤实业分公司工会" in text
    assert "编辑：党群工作部" in text
    assert "审核：后勤实业分公司工会" in text
    assert '<script>alert("xss")</script>' in text  # the hostile deeds, shown as text


def test_the_footer_comes_from_settings() -> None:
    rs = RenderSettings(article_source="集团报社", article_editor="张三", article_reviewer="李四")
    html = render(all_views()["official_account"], "html", rs).content
    assert isinstance(html, str)
    assert "来源：集团报社<br>编辑：张三<br>审核：李四" in html


def test_the_package_holds_the_body_the_title_and_a_cover() -> None:
    view = all_views()["official_account"]
    artefact = render(view, "zip", RS)
    assert isinstance(artefact.content, bytes)
    assert artefact.media_type == "application/zip"
    package = zipfile.ZipFile(io.BytesIO(artefact.content))
    assert sorted(package.namelist()) == ["article.html", "cover.png", "title.txt"]
    assert package.read("article.html").decode() == render(view, "html", RS).content
    assert package.read("title.txt").decode().strip() == view.title
    assert Image.open(io.BytesIO(package.read("cover.png"))).size == (1080, 1920)
    assert render(view, "zip", RS).content == artefact.content  # the same bytes each time
