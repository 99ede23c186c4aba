using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit;

namespace OneDiff.Serving.Tests;

/// <summary><c>onediff serve</c> as a user starts it: its own process, a free port, Ctrl+C to stop.</summary>
[Collection(ServedModelCollection.Name)]
public class ServeCommandTests(ServedModel m)
{
    static ProcessStartInfo Onediff(params string[] args) =>
        OnediffProcess.Start(new Dictionary<string, string> { ["ONEDIFF_API_KEY"] = "sk-from-the-environment" }, args);

    [Fact]
    public async Task ServesUntilCtrlCThenExitsCleanly()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("sends SIGINT with kill(1)");
        var cancel = TestContext.Current.CancellationToken;
        using var p = Process.Start(Onediff("serve", "--model", m.ModelFile, "--urls", "http://127.0.0.1:0", "--model-name", "tiny", "--max-batch", "4"))!;
        var stderr = new List<string>();
        string? url = null;
        while (await p.StandardError.ReadLineAsync(cancel) is { } line)
        {
            stderr.Add(line);
            if (line.StartsWith("ready:")) { url = Regex.Match(line, "http://127\\.0\\.0\\.1:\\d+").Value; break; }
        }
        Assert.True(url is { Length: > 0 }, "no 'ready' line:\n" + string.Join("\n", stderr));
        using var http = new HttpClient();
        var health = JsonNode.Parse(await http.GetStringAsync(url + "/health", cancel))!;
        Assert.Equal("ready", health["status"]!.GetValue<string>());
        // The key from ONEDIFF_API_KEY guards /v1.
        Assert.Equal(401, (await ServedModel.PostAsync(http, url!, m.Body(0).ToJsonString(), cancel: cancel)).Status);
        var (status, json, _) = await ServedModel.PostAsync(http, url!, m.Body(0).ToJsonString(), "sk-from-the-environment", cancel);
        Assert.Equal(200, status);
        Assert.Equal(m.Expected[0], ServedModel.Content(json));
        Assert.Contains("onediff_captions_total 1", await http.GetStringAsync(url + "/metrics", cancel));

        Process.Start("kill", ["-INT", $"{p.Id}"])!.WaitForExit();
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)), "still serving 30 s after SIGINT");
        Assert.Equal(0, p.ExitCode);
        Assert.Contains("stopping", await p.StandardError.ReadToEndAsync(cancel));
    }

    [Theory]
    [InlineData("--max-batch", "0", "MaxBatch")]
    [InlineData("--max-queue", "-1", "MaxQueue")]
    public void ASettingOutOfRangeIsAUsageError(string option, string value, string named)
    {
        using var p = Process.Start(Onediff("serve", "--model", m.ModelFile, option, value))!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(2, p.ExitCode);
        Assert.Contains(named, err);
    }

    [Fact]
    public void AMissingModelFileIsNamed()
    {
        using var p = Process.Start(Onediff("serve", "--model", "/nonexistent/m.zip"))!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(1, p.ExitCode);
        Assert.Contains("/nonexistent/m.zip", err);
    }
}
