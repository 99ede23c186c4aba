using System.Text.Json;
using OneDiff.Cli.Commands;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

public class EvaluateCommandTests
{
    [Fact]
    public void JsonOutputCarriesPycocoevalcapKeysAndTheReferenceNumbers()
    {
        string input = Path.Combine(TestPaths.Fixtures, "caption-metrics", "small.json");
        var (code, output, err) = CliRunner.Run(EvaluateCommand.Create(), "--input", input, "--json");
        Assert.True(code == 0, err);
        using var got = JsonDocument.Parse(output);
        using var want = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, "caption-metrics", "small.expected.json")));
        foreach (var key in new[] { "Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr" })
            Assert.Equal(want.RootElement.GetProperty(key).GetDouble(), got.RootElement.GetProperty(key).GetDouble(), 9);
        Assert.Equal(want.RootElement.GetProperty("METEOR_noparaphrase").GetDouble(), got.RootElement.GetProperty("METEOR").GetDouble(), 6);
        Assert.Equal(["exact", "stem", "synonym"], got.RootElement.GetProperty("METEOR_modules").EnumerateArray().Select(x => x.GetString()));
    }

    [Fact]
    public void CocoFilesAndGroupsGiveATable()
    {
        string dir = TestPaths.NewTempDir("cli");
        File.WriteAllText(Path.Combine(dir, "refs.json"), """{"annotations": [{"image_id": 1, "caption": "the car is gone"}, {"image_id": 2, "caption": "a man appeared"}, {"image_id": 3, "caption": "a bike appeared"}]}""");
        File.WriteAllText(Path.Combine(dir, "preds.json"), """[{"image_id": 1, "caption": "the car is gone"}, {"image_id": 2, "caption": "a man is here"}, {"image_id": 3, "caption": "a bike is here"}]""");
        File.WriteAllText(Path.Combine(dir, "groups.json"), """{"1": "remove", "2": "add", "3": "add"}""");
        var (code, output, err) = CliRunner.Run(EvaluateCommand.Create(), "--references", Path.Combine(dir, "refs.json"),
            "--predictions", Path.Combine(dir, "preds.json"), "--groups", Path.Combine(dir, "groups.json"));
        Assert.True(code == 0, err);
        Assert.Contains("remove", output);
        Assert.Contains("add", output);
        Assert.Contains("CIDEr", output);
    }

    [Fact]
    public void MismatchedIdsFailAndNameThem()
    {
        string dir = TestPaths.NewTempDir("cli");
        string input = Path.Combine(dir, "in.json");
        File.WriteAllText(input, """{"refs": {"a": ["x"], "b": ["y"]}, "cands": {"a": "x", "zz": "q"}}""");
        var (code, _, err) = CliRunner.Run(EvaluateCommand.Create(), "--input", input);
        Assert.Equal(1, code);
        Assert.Contains("zz", err);
        Assert.Contains("b", err);
    }

    [Fact]
    public void ConflictingInputsAreAUsageError()
    {
        var (code, _, err) = CliRunner.Run(EvaluateCommand.Create(), "--references", "r.json");
        Assert.Equal(2, code);
        Assert.Contains("--predictions", err);
    }
}
