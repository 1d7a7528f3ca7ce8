"""One rule per image name (envs.names), and a name read back by the rule that wrote it."""

from synth.envs.names import ImageNames, harbor_image, repo_of, tag

COMMIT = "c1dc5dcba16ed827aa6dcad896b41a3afedb4e32"


def test_each_image_of_a_repo_at_a_commit():
    names = ImageNames("attrs", COMMIT)
    assert names.env == "synth-env/attrs:c1dc5dcba16e"
    assert names.rebuild == "synth-env/attrs:c1dc5dcba16e-rebuild"
    assert names.remote("10.0.0.5:5000/synth", "ab" * 32) == "10.0.0.5:5000/synth/attrs:" + "ab" * 8
    assert names.task("attrs.c1dc5dcb.op/x__1") == "synth-task/attrs:attrs.c1dc5dcb.op-x__1"


def test_a_name_is_parsed_by_the_rule_that_wrote_it():
    for repo in ("attrs", "my-repo", "x.y"):
        assert repo_of(ImageNames(repo, COMMIT).env) == repo
        assert repo_of(ImageNames(repo, COMMIT).rebuild) == repo


def test_tags_are_docker_safe_and_bounded():
    assert tag("a b/c:d" * 40) == ("a-b-c-d" * 40)[:128]
    assert harbor_image("synth__six.c8e39406.swap") == "synth-harbor-task:synth__six.c8e39406.swap"
    assert len(harbor_image("x" * 300).split(":", 1)[1]) == 120
