using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.ML;
using OneDiff.Data.Formats;
using OneDiff.Data.Synthetic;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.MLNet.Tests;

/// <summary>A .NET developer's first app (samples/OneDiff.GettingStarted): it builds, runs and
/// captions, and the README shows its code word for word.</summary>
public class GettingStartedTests
{
    static string Sample => Path.Combine(TestPaths.RepoRoot, "samples", "OneDiff.GettingStarted");

    /// <summary>The sample's code between its usage markers.</summary>
    static string UsageRegion()
    {
        string code = File.ReadAllText(Path.Combine(Sample, "Program.cs"));
        var m = Regex.Match(code, @"// <usage>\r?\n(.*?)// </usage>", RegexOptions.Singleline);
        Assert.True(m.Success, "Program.cs has no // <usage> ... // </usage> region");
        return m.Groups[1].Value.Replace("\r\n", "\n");
    }

    [Fact]
    public void TheReadmeShowsTheSamplesCodeWordForWord()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md")).Replace("\r\n", "\n");
        Assert.Contains("```csharp\n" + UsageRegion() + "```", readme);
        Assert.Contains("dotnet add package libtorch-cpu-linux-x64 --version 2.10.0", readme);
    }

    [Fact]
    public void TheSampleAppTrainsEvaluatesSavesLoadsAndCaptions()
    {
        // The build of this test project builds the sample (a project reference); run it as a user would.
        string config = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // Debug or Release
        string dll = Path.Combine(Sample, "bin", config, "net10.0", "OneDiff.GettingStarted.dll");
        Assert.True(File.Exists(dll), $"{dll} was not built");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { dll, "40" }) start.ArgumentList.Add(a); // 40 pairs: a few steps of the Tiny defaults
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(3)), "the sample did not end within 3 minutes");
        string output = stdout.Result, errors = stderr.Result;
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}:\n{output}\n{errors}");
        Assert.Matches(@"all\s+8\s", output); // the test split's 8 pairs, scored
        Assert.Matches(@"caption: \S+", output);
    }
}
