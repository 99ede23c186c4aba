using System.Text.Json;
using OneDiff.Cli.Commands;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

public class DataCommandTests
{
    [Fact]
    public void SynthThenInspectFindsNoProblems()
    {
        string dir = TestPaths.NewTempDir("cli-synth");
        var (code, output, err) = CliRunner.Run(SynthCommand.Create(), "--out", dir, "--pairs", "20", "--seed", "4", "--size", "48");
        Assert.True(code == 0, err);
        Assert.Contains("16 train, 4 test", output);
        var (code2, json, err2) = CliRunner.Run(DataCommand.Create(), "inspect", "--format", "synthetic", "--root", dir, "--split", "train", "--json");
        Assert.True(code2 == 0, err2);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(16, doc.RootElement.GetProperty("records").GetInt32());
        Assert.Equal(0, doc.RootElement.GetProperty("problems").GetArrayLength());
    }

    [Fact]
    public void InspectExitsNonZeroOnProblemsUnlessSkipBad()
    {
        string dir = TestPaths.NewTempDir("cli-bad");
        CliRunner.Run(SynthCommand.Create(), "--out", dir, "--pairs", "10", "--size", "32");
        File.WriteAllBytes(Path.Combine(dir, "images", "000000_a.png"), []);
        var (code, output, _) = CliRunner.Run(DataCommand.Create(), "inspect", "--format", "diffcap", "--root", dir);
        Assert.Equal(1, code);
        Assert.Contains("000000_a.png", output);
        Assert.Contains("id 000000", output);
        var (code2, _, _) = CliRunner.Run(DataCommand.Create(), "inspect", "--format", "diffcap", "--root", dir, "--skip-bad");
        Assert.Equal(0, code2);
    }

    [Fact]
    public void ExportWritesASplitAsDiffCapLinesThatReadBackAsTheSameRecords()
    {
        // A Spot-the-Diff split as its authors ship it: an id repeated (its sentences merge), one empty sentence.
        string dir = TestPaths.NewTempDir("export");
        string synth = Path.Combine(dir, "synth");
        CliRunner.Run(SynthCommand.Create(), "--out", synth, "--pairs", "3", "--size", "32");
        string root = Path.Combine(dir, "spot-the-diff");
        Directory.CreateDirectory(Path.Combine(root, "data", "annotations"));
        Directory.CreateDirectory(Path.Combine(root, "resized_images"));
        foreach (var (id, n) in new[] { ("235", 0), ("17", 1) })
        {
            File.Copy(Path.Combine(synth, "images", $"00000{n}_a.png"), Path.Combine(root, "resized_images", $"{id}.png"));
            File.Copy(Path.Combine(synth, "images", $"00000{n}_b.png"), Path.Combine(root, "resized_images", $"{id}_2.png"));
        }
        File.WriteAllText(Path.Combine(root, "data", "annotations", "test.json"), """
            [{"img_id": "235", "sentences": ["the car is gone", ""]}, {"img_id": "17", "sentences": ["a man appeared"]}, {"img_id": "235", "sentences": ["a car left"]}]
            """);
        string output = Path.Combine(dir, "out", "spot-test.jsonl");
        var (code, stdout, err) = CliRunner.Run(DataCommand.Create(), "export", "--format", "spot-the-diff", "--root", root, "--split", "test", "--out", output);
        Assert.True(code == 0, err);
        Assert.Contains("wrote 2 pair(s) with 3 reference(s)", stdout);

        var expected = OneDiff.Data.Readers.DatasetReader.ForFormat("spot-the-diff").Read(root, new OneDiff.Data.Readers.ReadOptions { Split = "test" }, new OneDiff.Data.DataReport());
        var back = OneDiff.Data.Formats.DiffCapJsonl.Read(output);
        Assert.Equal(expected.Select(r => (r.Id, r.Image1, r.Image2, r.Prompt, string.Join("|", r.Captions), r.Task, r.Group)),
            back.Select(r => (r.Id, r.Image1, r.Image2, r.Prompt, string.Join("|", r.Captions), r.Task, r.Group)));
        Assert.Equal("the car is gone|a car left", string.Join("|", back.Single(r => r.Id == "235").Captions));

        // A missing image stops it, named; --skip-bad lists it and writes the rest.
        File.Delete(Path.Combine(root, "resized_images", "17_2.png"));
        var (code2, _, err2) = CliRunner.Run(DataCommand.Create(), "export", "--format", "spot-the-diff", "--root", root, "--split", "test", "--out", output);
        Assert.Equal(1, code2);
        Assert.Contains("17_2.png", err2);
        var (code3, stdout3, err3) = CliRunner.Run(DataCommand.Create(), "export", "--format", "spot-the-diff", "--root", root, "--split", "test", "--out", output, "--skip-bad");
        Assert.True(code3 == 0, err3);
        Assert.Contains("skipped img_id 17", err3);
        Assert.Contains("wrote 1 pair(s) with 2 reference(s) to", stdout3);
    }
}
