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
    public void BootstrapAddsIntervalsAndNoMeteorLeavesItsKeyOut()
    {
        string input = Path.Combine(TestPaths.Fixtures, "caption-metrics", "medium.json");
        var (code, output, err) = CliRunner.Run(EvaluateCommand.Create(), "--input", input, "--json", "--no-meteor", "--bootstrap", "200");
        Assert.True(code == 0, err);
        using var got = JsonDocument.Parse(output);
        var root = got.RootElement;
        Assert.False(root.TryGetProperty("METEOR", out _));
        var cider = root.GetProperty("interval").GetProperty("CIDEr");
        Assert.InRange(root.GetProperty("CIDEr").GetDouble(), cider[0].GetDouble(), cider[1].GetDouble());
        Assert.Equal(200, root.GetProperty("interval").GetProperty("resamples").GetInt32());

        var (code2, table, err2) = CliRunner.Run(EvaluateCommand.Create(), "--input", input, "--bootstrap", "200");
        Assert.True(code2 == 0, err2);
        Assert.Contains("95% bootstrap intervals (200 resamples):", table);
        var (code3, _, _) = CliRunner.Run(EvaluateCommand.Create(), "--input", input, "--bootstrap", "-5");
        Assert.NotEqual(0, code3);
    }

    [Fact]
    public void CompareScoresTwoPredictionFilesOfTheSameItemsByPairedBootstrap()
    {
        string dir = TestPaths.NewTempDir("compare");
        using var input = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, "caption-metrics", "medium.json")));
        var refs = input.RootElement.GetProperty("refs").EnumerateObject().Select(p => (p.Name, (IReadOnlyList<string>)p.Value.EnumerateArray().Select(x => x.GetString()!).ToList())).ToList();
        var cands = input.RootElement.GetProperty("cands").EnumerateObject().Select(p => (p.Name, p.Value.GetString()!)).ToList();
        string r = Path.Combine(dir, "refs.json"), a = Path.Combine(dir, "a.json"), b = Path.Combine(dir, "b.json");
        OneDiff.Metrics.CaptionFiles.WriteCocoReferences(r, refs);
        OneDiff.Metrics.CaptionFiles.WriteCocoResults(a, cands);
        OneDiff.Metrics.CaptionFiles.WriteCocoResults(b, cands.Select(c => (c.Item1, string.Join(' ', c.Item2.Split(' ').Take(3)))));

        var (code, table, err) = CliRunner.Run(EvaluateCommand.Create(), "--references", r, "--predictions", a, "--compare", b, "--no-meteor", "--bootstrap", "200");
        Assert.True(code == 0, err);
        Assert.Contains($"A = {a}", table);
        Assert.Contains("95% interval of B - A", table);
        Assert.Contains("paired bootstrap over 200 resamples", table);
        var (code2, json, err2) = CliRunner.Run(EvaluateCommand.Create(), "--references", r, "--predictions", a, "--compare", b, "--no-meteor", "--json");
        Assert.True(code2 == 0, err2);
        using var doc = JsonDocument.Parse(json);
        Assert.True(doc.RootElement.GetProperty("difference").GetProperty("CIDEr").GetDouble() < 0);
        Assert.True(doc.RootElement.GetProperty("interval").GetProperty("CIDEr")[1].GetDouble() < 0);
        Assert.Equal(1000, doc.RootElement.GetProperty("interval").GetProperty("resamples").GetInt32());

        string g = Path.Combine(dir, "groups.json");
        OneDiff.Metrics.CaptionFiles.WriteGroups(g, cands.Select((c, i) => (c.Item1, i % 2 == 0 ? "even" : "odd")));
        var (code4, perGroup, err4) = CliRunner.Run(EvaluateCommand.Create(), "--references", r, "--predictions", a, "--compare", b, "--groups", g, "--no-meteor", "--bootstrap", "100");
        Assert.True(code4 == 0, err4);
        Assert.Contains("each group as its own set", perGroup);
        Assert.Contains("\nodd ", perGroup);

        var (code3, _, err3) = CliRunner.Run(EvaluateCommand.Create(), "--input", Path.Combine(TestPaths.Fixtures, "caption-metrics", "medium.json"), "--compare", b);
        Assert.Equal(2, code3);
        Assert.Contains("--compare B goes with --references R --predictions A", err3);
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
