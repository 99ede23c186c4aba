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
}
