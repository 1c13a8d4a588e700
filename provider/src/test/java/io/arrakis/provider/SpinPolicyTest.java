package io.arrakis.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The adaptive spin budget of a stack (default {@code arrakis.spin}, 50 µs): halved to nothing
 * by spins that find nothing, a probe every 64th wait, restored by a spin that pays. The probe
 * is short when the last sleep in epoll ended quickly (the peer needed this thread's CPU), in
 * full otherwise. Nothing else waits on the stack here, so the budgets asked for are these
 * calls' alone.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SpinPolicyTest {
    private static final long SPIN = 50_000;

    @Test
    void theProbeIsShortAfterQuickSleepsAndFullAfterLongOnesAndAPaidSpinRestoresTheBudget() throws Exception {
        try (TwoProviders providers = new TwoProviders();
                ServerSocketChannel listener = providers.server.openServerSocketChannel()) {
            listener.bind(new InetSocketAddress(providers.server.userLevelAddress(), 0)); // opens the stack
            UserStack stack = providers.server.userStackIfOpen();
            for (int i = 0; i < 10; i++) {
                stack.spinWasted(); // 50, 25, 12.5 ... then nothing
            }
            stack.leaderSlept(6_000); // the peer answered 6 µs after this thread gave up its CPU
            assertEquals(List.of(SPIN / 8), nonZeroBudgetsOf64(stack), "one short probe in 64 waits");
            stack.leaderSlept(45_000); // waking took an idle vCPU's 45 µs
            assertEquals(List.of(SPIN), nonZeroBudgetsOf64(stack), "one full probe in 64 waits");
            stack.spinPaid();
            assertEquals(64, nonZeroBudgetsOf64(stack).stream().filter(b -> b == SPIN).count(),
                    "after a paid spin every wait spins the whole budget");
        }
    }

    private static List<Long> nonZeroBudgetsOf64(UserStack stack) {
        List<Long> budgets = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            long budget = stack.spinBudget();
            if (budget != 0) {
                budgets.add(budget);
            }
        }
        return budgets;
    }
}
