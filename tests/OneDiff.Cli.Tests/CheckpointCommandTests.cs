using OneDiff.Cli.Commands;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

public class CheckpointCommandTests
{
    /// <summary>A run's CheckpointFolder as the training loop leaves it: complete checkpoints
    /// (state.json written last) and one cut off while written.</summary>
    static string RunFolder()
    {
        string folder = TestPaths.NewTempDir("run-checkpoints");
        void Checkpoint(string name, long step, double[] losses, string lora, int bytes)
        {
            string dir = Path.Combine(folder, name);
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(Path.Combine(dir, "trainable.safetensors"), new byte[bytes]);
            if (losses.Length > 0)
                File.WriteAllText(Path.Combine(dir, "state.json"), System.Text.Json.JsonSerializer.Serialize(new { stage = name[..6], step, losses, lora }));
        }
        Checkpoint("stage1-step00000010", 10, [6.5, 5.25], "none", 1024);
        Checkpoint("stage2-step00000004", 4, [4.5, 4.125], "rank 8, alpha 16, dropout 0.05, targets q_proj", 2048);
        Checkpoint("stage2-step00000008", 8, [4.5, 4.125, 3.75], "rank 8, alpha 16, dropout 0.05, targets q_proj", 2048);
        Checkpoint("stage2-step00000012.partial", 12, [], "", 100);
        Directory.CreateDirectory(Path.Combine(folder, "stage2-stepnotes")); // not a checkpoint: not listed
        return folder;
    }

    [Fact]
    public void InspectListsARunsCheckpointsAndWhichOneAResumedRunTakes()
    {
        var (code, output, err) = CliRunner.Run(CheckpointCommand.Create(), "inspect", RunFolder());
        Assert.True(code == 0, err + output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(5, lines.Length);
        Assert.Equal("stage1-step00000010\tstage 1, step 10, 0.00 GiB, loss 5.2500, LoRA none; a resumed run starts here", lines[0]);
        Assert.Equal("stage2-step00000004\tstage 2, step 4, 0.00 GiB, loss 4.1250, LoRA rank 8, alpha 16, dropout 0.05, targets q_proj", lines[1]);
        Assert.EndsWith("loss 3.7500, LoRA rank 8, alpha 16, dropout 0.05, targets q_proj; a resumed run starts here", lines[2]);
        Assert.StartsWith("stage2-step00000012.partial\tstage 2, step 12, 0.00 GiB, unfinished", lines[3]);
        Assert.Equal("4 checkpoint(s), 1 unfinished, 0.00 GiB in all", lines[4]);
    }
}
