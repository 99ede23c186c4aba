using OneDiff.Cli.Commands;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

public class TrainCommandTests
{
    [Fact]
    public void AYamlConfigTrainsAndSavesAModelThatCaptions()
    {
        string dir = TestPaths.NewTempDir("train-cli");
        CliRunner.Run(SynthCommand.Create(), "--out", Path.Combine(dir, "data"), "--pairs", "12", "--size", "64", "--seed", "2");
        File.WriteAllText(Path.Combine(dir, "config.yaml"), """
            train:
              - format: synthetic
                root: data
            captions:
              llava: data/captions.json
              images: data
            options:
              Preset: Tiny
              StageOneSteps: 2
              StageTwoSteps: 3
              BatchSize: 4
              Device: cpu
              Fusion: Sequence
              PackReferences: true
            output: out/model.zip
            """);
        var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"));
        Assert.True(code == 0, err + output);
        Assert.True(File.Exists(Path.Combine(dir, "out", "model.zip")));
        Assert.Contains("stage I", output);
        // Enum and boolean options by name: the [A][B] sequence (Tiny's own is channel fusion; the
        // projector is then 64 -> 128 wide, not 128 -> 128), references packed per pair.
        Assert.Contains("904,448 parameters", output);
        Assert.Contains("each pair's captions share one sequence", output);
        var (code2, caption, err2) = CliRunner.Run(CaptionCommand.Create(), "--model", Path.Combine(dir, "out", "model.zip"),
            "--before", Path.Combine(dir, "data", "images", "000000_a.png"), "--after", Path.Combine(dir, "data", "images", "000000_b.png"));
        Assert.True(code2 == 0, err2);
        Assert.False(string.IsNullOrWhiteSpace(caption));
    }

    [Fact]
    public void ABadConfigNamesTheProblem()
    {
        string dir = TestPaths.NewTempDir("train-bad");
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"train": [], "options": {"Preset": "Tiny"}}""");
        var (code, _, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.json"));
        Assert.Equal(1, code);
        Assert.Contains("\"train\"", err);
    }
}
