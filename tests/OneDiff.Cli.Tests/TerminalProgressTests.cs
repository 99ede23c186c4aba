using System.Diagnostics;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary>
/// Progress as a user sees it: <c>onediff</c> run as a process on a real pseudo-terminal
/// (util-linux's <c>script</c>) draws Spectre.Console bars with the count, rate and time left, and
/// prints its output lines above them; the same command with its output redirected writes plain
/// lines and no terminal codes.
/// </summary>
[Collection(OverfitCollection.Name)]
public class TerminalProgressTests(OverfitFixture f)
{
    const string Escape = "\u001b[";
    const string BarCharacter = "\u2501"; // Spectre's bar: ━

    string PairsFile()
    {
        string dir = TestPaths.NewTempDir("terminal");
        string file = Path.Combine(dir, "pairs.tsv");
        File.WriteAllLines(file, f.Pairs.Select((p, i) => $"{p.A}\t{p.B}\tpair{i}"));
        return file;
    }

    [Fact]
    public async Task InATerminalCaptioningDrawsABarAndItsLinesAboveItRedirectedItWritesPlainLines()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/script")) Assert.Skip("needs util-linux's script(1) for a pseudo-terminal");
        string pairs = PairsFile();
        string[] args = ["caption", "--model", f.ModelFile, "--pairs", pairs];

        var (code, screen) = await OnATerminal(args);
        Assert.True(code == 0, screen);
        Assert.Contains(Escape, screen);
        Assert.Contains(BarCharacter, screen);
        Assert.Contains("captioning", screen);
        Assert.Contains("100%", screen);
        Assert.Contains($"{f.Pairs.Count}/{f.Pairs.Count} pairs", screen);
        Assert.Contains("pairs/s", screen);
        // The plain progress line is the redirected form; the bar replaces it here.
        Assert.DoesNotContain($"captioned {f.Pairs.Count}/{f.Pairs.Count} pairs (", screen);
        // Every caption line reaches the screen whole, printed above the bar.
        for (int i = 0; i < f.Pairs.Count; i++) Assert.Contains($"pair{i}\t{f.Pairs[i].Caption}\r\n", screen);

        var (plainCode, stdout, stderr) = await Redirected(args);
        Assert.True(plainCode == 0, stderr);
        Assert.DoesNotContain(Escape, stdout + stderr);
        Assert.Contains($"captioned {f.Pairs.Count}/{f.Pairs.Count} pairs (", stderr);
        Assert.Equal(f.Pairs.Select((p, i) => $"pair{i}\t{p.Caption}"), stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task InATerminalWithStandardOutputRedirectedTheBarGoesToTheTerminalAndTheCaptionsToTheFile()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/script")) Assert.Skip("needs util-linux's script(1) for a pseudo-terminal");
        string pairs = PairsFile();
        string captions = Path.Combine(Path.GetDirectoryName(pairs)!, "captions.tsv");
        var (code, screen) = await OnATerminal(["caption", "--model", f.ModelFile, "--pairs", pairs], stdoutTo: captions);
        Assert.True(code == 0, screen);
        Assert.Contains(BarCharacter, screen);
        Assert.DoesNotContain("pair0\t", screen);
        Assert.Equal(f.Pairs.Select((p, i) => $"pair{i}\t{p.Caption}"), File.ReadAllLines(captions));
    }

    [Fact]
    public async Task InATerminalTrainingDrawsABarPerStageWithTheLossFromMLNetsProgressChannel()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/script")) Assert.Skip("needs util-linux's script(1) for a pseudo-terminal");
        string dir = TestPaths.NewTempDir("terminal-train");
        CliRunner.Run(OneDiff.Cli.Commands.SynthCommand.Create(), "--out", Path.Combine(dir, "data"), "--pairs", "12", "--size", "64", "--seed", "2");
        string config = Path.Combine(dir, "config.yaml");
        File.WriteAllText(config, """
            train:
              - format: synthetic
                root: data
            captions:
              llava: data/captions.json
              images: data
            options:
              Preset: Tiny
              StageOneSteps: 4
              StageTwoSteps: 6
              BatchSize: 4
              Device: cpu
            output: out/model.zip
            """);
        var (code, screen) = await OnATerminal(["train", "--config", config]);
        Assert.True(code == 0, screen);
        Assert.Contains(BarCharacter, screen);
        Assert.Contains("stage I", screen);
        Assert.Contains("4/4 steps", screen);
        Assert.Contains("stage II", screen);
        Assert.Contains("6/6 steps", screen);
        Assert.Matches(@"loss \d+\.\d{4}", screen);
        // The trainer's log lines and the command's own still reach the screen, whole.
        Assert.Contains($"saved {Path.Combine(dir, "out", "model.zip")} (", screen);
        Assert.True(File.Exists(Path.Combine(dir, "out", "model.zip")));
    }

    [Fact]
    public async Task InATerminalPairMiningDrawsABarOverTheImagesItEmbedsToTheEnd()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/script")) Assert.Skip("needs util-linux's script(1) for a pseudo-terminal");
        string dir = TestPaths.NewTempDir("terminal-mine");
        OneDiff.Data.Synthetic.ProceduralPairGenerator.Write(dir, 40, seed: 5, imageSize: 48, testEvery: 0);
        var (code, screen) = await OnATerminal(["data", "mine-pairs", "--llava", Path.Combine(dir, "captions.json"), "--images", dir,
            "--clip", Path.Combine(TestPaths.HfFixtures, "clip_full"), "--out", Path.Combine(dir, "candidates.jsonl"), "--min-similarity", "-1",
            "--max-similarity", "1.01", "--max-caption-overlap", "1.01", "--no-clip-score", "--batch-size", "8", "--device", "cpu"]);
        Assert.True(code == 0, screen);
        Assert.Contains(BarCharacter, screen);
        Assert.Contains("embedding images", screen);
        // The bar ends full although the last count arrives after the channel closed.
        Assert.Contains("100%", screen);
        Assert.Contains("40/40 images", screen);
        Assert.Contains("wrote ", screen);
    }

    /// <summary>Runs onediff on a new pseudo-terminal; what the terminal received, and the exit code.</summary>
    static async Task<(int Code, string Screen)> OnATerminal(string[] args, string? stdoutTo = null)
    {
        // A wide terminal, so that no line the test looks for is wrapped.
        string command = "stty cols 250; " + string.Join(' ', new[] { "dotnet", Path.Combine(AppContext.BaseDirectory, "onediff.dll") }.Concat(args).Select(Quote))
            + (stdoutTo is null ? "" : " > " + Quote(stdoutTo));
        var start = new ProcessStartInfo("/usr/bin/script") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "--quiet", "--flush", "--return", "--command", command, "/dev/null" }) start.ArgumentList.Add(a);
        start.Environment["TERM"] = "xterm-256color";
        using var p = Process.Start(start)!;
        p.StandardInput.Close();
        var screen = p.StandardOutput.ReadToEndAsync();
        var err = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await screen + await err);
    }

    static async Task<(int Code, string Out, string Err)> Redirected(string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "onediff.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["TERM"] = "xterm-256color";
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout, await stderr);
    }

    static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";
}
