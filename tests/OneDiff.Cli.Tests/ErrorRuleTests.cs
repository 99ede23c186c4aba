using System.CommandLine;
using OneDiff.Cli.Commands;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary>
/// One error rule for every command (<see cref="CliAction"/>): a wrong command line exits 2, bad
/// data or a failed run 1, out of memory 3 with what takes less, a cancellation 130; each says so
/// in one line on stderr, with no stack trace unless --verbose.
/// </summary>
[Collection(OverfitCollection.Name)]
public class ErrorRuleTests(OverfitFixture f)
{
    static readonly Dictionary<string, Func<Command>> Commands = new()
    {
        ["device"] = DeviceCommand.Create, ["checkpoint"] = CheckpointCommand.Create, ["evaluate"] = EvaluateCommand.Create,
        ["synth"] = SynthCommand.Create, ["data"] = DataCommand.Create, ["train"] = TrainCommand.Create, ["caption"] = CaptionCommand.Create,
    };

    static (int Code, string Out, string Err) Run(string command, params string[] args) => CliRunner.Run(Commands[command](), args);

    /// <summary>One line (or, for a command line that does not parse, System.CommandLine's own
    /// lines) and no stack trace.</summary>
    static void AssertNoStackTrace(string err) => Assert.DoesNotContain("   at ", err);

    static string Missing => Path.Combine(TestPaths.NewTempDir("missing"), "absent");

    [Theory]
    [InlineData("device", "--device tpu", "error: device 'tpu' is not one of: auto, cpu, cuda")]
    [InlineData("checkpoint", "inspect", "Required argument missing")]
    [InlineData("evaluate", "--json", "give --input FILE, or --references FILE and --predictions FILE")]
    [InlineData("synth", "--out x --pairs 0", "--pairs must be positive")]
    [InlineData("data", "inspect --format nope --root x", "Argument 'nope' not recognized")]
    [InlineData("data", "export --format nope --root x --out y", "Argument 'nope' not recognized")]
    [InlineData("data", "mine-pairs --llava a --images b --clip c --out d --min-similarity 0.9 --max-similarity 0.8", "the similarity band [0.9, 0.8) is empty")]
    [InlineData("data", "chat-requests --candidates a --model m --out b --max-tokens 0", "--max-tokens must be 1 or more")]
    [InlineData("data", "fill-captions --candidates a --out b", "Option '--answers' is required")]
    [InlineData("train", "--config c.yaml --all", "--no-decode, --all and --gpus apply to --check only")]
    [InlineData("caption", "--model m.zip --before a.png", "give one pair (--before A --after B), or many")]
    [InlineData("caption", "--model m.zip --pairs p.tsv --beams 0", "NumBeams must be 1 or more, not 0")]
    public void AWrongCommandLineExits2(string command, string args, string expected)
    {
        var (code, output, err) = Run(command, args.Split(' '));
        Assert.True(code == ExitCodes.Usage, $"exit {code}: {err}{output}");
        Assert.Contains(expected, err);
        AssertNoStackTrace(err);
    }

    [Theory]
    [InlineData("checkpoint", "inspect {missing}.zip", "error: ")]
    [InlineData("evaluate", "--input {missing}", "error: caption file not found: {missing}")]
    [InlineData("data", "inspect --format synthetic --root {missing}", "error: ")]
    [InlineData("data", "export --format synthetic --root {missing} --out {missing}.jsonl", "error: ")]
    [InlineData("data", "mine-pairs --llava {missing} --images . --clip . --out x.jsonl", "error: ")]
    [InlineData("data", "chat-requests --candidates {missing} --model m --out x.jsonl", "error: ")]
    [InlineData("data", "fill-captions --candidates {missing} --answers {missing} --out x.jsonl", "error: ")]
    [InlineData("train", "--config {missing}", "error: config not found: {missing}")]
    [InlineData("caption", "--model {missing}.zip --before a.png --after b.png", "error: ")]
    public void BadDataOrAMissingFileExits1WithOneLineNamingIt(string command, string args, string expected)
    {
        string missing = Missing;
        var (code, output, err) = Run(command, args.Replace("{missing}", missing).Split(' '));
        Assert.True(code == ExitCodes.Failed, $"exit {code}: {err}{output}");
        Assert.StartsWith(expected.Replace("{missing}", missing), err);
        Assert.Contains(missing, err);
        Assert.Single(err.TrimEnd().Split('\n'));
        AssertNoStackTrace(err);

        // --verbose adds where it happened.
        var (verboseCode, _, verboseErr) = Run(command, [.. args.Replace("{missing}", missing).Split(' '), "--verbose"]);
        Assert.Equal(ExitCodes.Failed, verboseCode);
        Assert.Contains("   at ", verboseErr);
    }

    [Fact]
    public void AModelTooLargeForTheMachineExits3BeforeAnythingIsBuiltAndSaysWhatFits()
    {
        // A billion delta tokens: the plan's weights and training state, counted on the meta
        // device, are far beyond this machine; Fit refuses instead of the kernel ending the process.
        string dir = TestPaths.NewTempDir("oom-train");
        Run("synth", "--out", Path.Combine(dir, "data"), "--pairs", "4", "--size", "32");
        File.WriteAllText(Path.Combine(dir, "c.yaml"), "train: [{format: synthetic, root: data}]\noptions:\n  Preset: Tiny\n  NumDeltaTokens: 1000000000\n  Device: cpu\n  StageTwoSteps: 1\n");
        var (code, output, err) = Run("train", "--config", Path.Combine(dir, "c.yaml"));
        Assert.True(code == ExitCodes.OutOfMemory, $"exit {code}: {err}{output}");
        Assert.StartsWith("out of memory: stage 2 of preset Tiny (2 LLM layers of 128) would not fit in memory on the CPU: the weights and training state take ", err);
        Assert.Contains("Nothing was built.", err);
        Assert.Contains("LoraRank 128", err);
        Assert.DoesNotContain("GradientCheckpointing", err); // activations are not what does not fit
        Assert.DoesNotContain("OneDiff Tiny on cpu", output);
        AssertNoStackTrace(err);
    }

    [Fact]
    public void CaptioningThatRunsOutOfMemoryExits3WithTheAllocatorsWordsAndWhatTakesLess()
    {
        // A hundred million beams: libtorch's CPU allocator refuses the first cache at once.
        var (a, b, _) = f.Pairs[0];
        var (code, output, err) = Run("caption", "--model", f.ModelFile, "--before", a, "--after", b, "--beams", "100000000");
        Assert.True(code == ExitCodes.OutOfMemory, $"exit {code}: {err}{output}");
        Assert.StartsWith("out of memory: ", err);
        Assert.Contains("can't allocate memory", err);
        Assert.Contains("Settings that take less: a smaller --batch-size; --precision bfloat16", err);
        Assert.Single(err.TrimEnd().Split('\n'));
        AssertNoStackTrace(err);
    }

    public static TheoryData<string, string> Cancellable => new()
    {
        { "synth", "--out {dir}/synth --pairs 50 --size 32" },
        { "train", "--config {dir}/c.yaml" },
        { "caption", "--model {model} --pairs {dir}/pairs.tsv" },
        { "evaluate", "--model {model} --format synthetic --root {dir}/data --split train" },
        { "data", "mine-pairs --llava {dir}/data/captions.json --images {dir}/data --clip {clip} --out {dir}/c.jsonl --device cpu" },
    };

    [Theory]
    [MemberData(nameof(Cancellable))]
    public void CancellationExits130WithItsOwnMessage(string command, string args)
    {
        string dir = TestPaths.NewTempDir("cancel");
        Run("synth", "--out", Path.Combine(dir, "data"), "--pairs", "6", "--size", "32", "--test-every", "0");
        File.WriteAllText(Path.Combine(dir, "c.yaml"), "train: [{format: synthetic, root: data}]\noptions:\n  Preset: Tiny\n  Device: cpu\n  StageTwoSteps: 50\n");
        var (a, b, _) = f.Pairs[0];
        File.WriteAllText(Path.Combine(dir, "pairs.tsv"), $"{a}\t{b}\n{b}\t{a}\n");
        string line = args.Replace("{dir}", dir).Replace("{model}", f.ModelFile).Replace("{clip}", Path.Combine(TestPaths.HfFixtures, "clip_full"));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel(); // as the first Ctrl+C does, here before the work starts
        var (code, output, err) = CliRunner.Run(Commands[command](), cancelled.Token, line.Split(' '));
        Assert.True(code == ExitCodes.Cancelled, $"exit {code}: {err}{output}");
        Assert.Equal("cancelled: stopped before the work was done", err.TrimEnd().Split('\n')[^1]);
        AssertNoStackTrace(err);
    }

    [Fact]
    public void TheExitCodesAreListedInTheHelp()
    {
        Assert.Contains("2 a wrong command line", ExitCodes.Help);
        Assert.Contains("3 out of memory", ExitCodes.Help);
        Assert.Contains("130 cancelled", ExitCodes.Help);
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        Assert.Contains(ExitCodes.Help, readme);
    }
}

/// <summary>An application without a native libtorch: the first call names the package to add.</summary>
public class NativeLoadTests
{
    [Fact]
    public void AnAppWithoutANativeLibtorchIsToldWhichPackageToAdd()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("the copy below is of the Linux app's folder");
        // onediff's own folder without libtorch's libraries, and an empty NuGet cache: as an app
        // deployed without the native package (on a developer's machine the cache hides the lack).
        string dir = TestPaths.NewTempDir("no-libtorch");
        string app = Path.Combine(dir, "app"), native = Path.Combine(app, "runtimes", "linux-x64", "native");
        Directory.CreateDirectory(native);
        foreach (var f in Directory.GetFiles(AppContext.BaseDirectory)) File.Copy(f, Path.Combine(app, Path.GetFileName(f)));
        string shipped = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        foreach (var f in new[] { "libLibTorchSharp.so", "libSkiaSharp.so" }) File.Copy(Path.Combine(shipped, f), Path.Combine(native, f));
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(app, "onediff.dll"), "device" }) start.ArgumentList.Add(a);
        start.Environment["NUGET_PACKAGES"] = Directory.CreateDirectory(Path.Combine(dir, "empty-cache")).FullName;
        start.Environment.Remove("TORCH_LIB");
        start.Environment.Remove("LD_PRELOAD");
        using var p = System.Diagnostics.Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        string err = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Equal(ExitCodes.Failed, p.ExitCode);
        Assert.StartsWith("error: TorchSharp could not load libtorch", err);
        Assert.Contains("Add the native package of your platform to the application: libtorch-cpu-linux-x64 2.10.0 for the CPU", err);
        Assert.Contains("dotnet add package libtorch-cpu-linux-x64 --version 2.10.0", err);
        _ = output.Result;
    }
}

/// <summary>Ctrl+C as a terminal sends it: SIGINT to a training process.</summary>
public class InterruptTests
{
    [Fact]
    public void SigintStopsTrainingAfterTheStepWithItsOwnMessageAndCode()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("sends SIGINT with kill(1)");
        string dir = TestPaths.NewTempDir("sigint");
        CliRunner.Run(SynthCommand.Create(), "--out", Path.Combine(dir, "data"), "--pairs", "6", "--size", "32");
        File.WriteAllText(Path.Combine(dir, "c.yaml"), "train: [{format: synthetic, root: data}]\noptions:\n  Preset: Tiny\n  Device: cpu\n  StageTwoSteps: 100000\n  BatchSize: 2\n");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "onediff.dll"), "train", "--config", "c.yaml" }) start.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        var err = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!output.ToString().Contains("stage 2 step 10/") && !p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(100);
        Assert.False(p.HasExited, output.ToString());
        System.Diagnostics.Process.Start("kill", ["-INT", $"{p.Id}"])!.WaitForExit();
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)), "still training 30 s after SIGINT");
        Assert.Equal(ExitCodes.Cancelled, p.ExitCode);
        string[] lines = err.Result.TrimEnd().Split('\n');
        Assert.Equal("stopping at the next safe point; press Ctrl+C again to end at once", lines[0]);
        Assert.Equal("cancelled: stopped before the work was done", lines[^1]);
        Assert.DoesNotContain("   at ", err.Result);
    }
}
